// This file holds the guards and plumbing of the load's clients: targets
// must be on this machine, and without keep-alive the client rotates its
// source address so that TIME_WAIT never runs out of ports.
package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// CheckLocal returns nil when every address host resolves to is on this
// machine: loopback, an address of one of its own interfaces, or an address
// inside the subnet of a Docker bridge (docker0, br-*), where the only hosts
// are containers of this machine.
func CheckLocal(ctx context.Context, host string) error {
	if host == "" {
		return errors.New("load: URL has no host")
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
		if err != nil {
			return fmt.Errorf("load: resolving %s: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	ifaces, _ := net.Interfaces()
	local := func(ip net.IP) bool {
		if ip.IsLoopback() {
			return true
		}
		for _, ifc := range ifaces {
			bridge := ifc.Name == "docker0" || strings.HasPrefix(ifc.Name, "br-")
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				n, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				if n.IP.Equal(ip) || (bridge && n.Contains(ip)) {
					return true
				}
			}
		}
		return false
	}
	for _, ip := range ips {
		if !local(ip) {
			return fmt.Errorf("load: %s (%s) is not an address of this machine or of a container on its Docker bridges; load is only sent to this machine", host, ip)
		}
	}
	return nil
}

// rotatingClient is the attacker's client without keep-alive to a loopback
// address: each connection comes from the next of 65,000 source addresses
// in 127.1.0.0/16. A new connection per request at thousands per second
// leaves each closed one in TIME_WAIT for a minute on this side, and one
// source address has only ~28,000 ports: a few seconds of load, and the
// next procedure of a benchmark, would fail with "bind: address already in
// use", a failure of the load generator and not of what is measured. It
// mirrors the options Start gives vegeta otherwise: no proxy, no HTTP/2,
// no redirects, the timeout.
func rotatingClient(o Options) *http.Client {
	var n atomic.Uint32
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: -1}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		k := n.Add(1)%65000 + 1
		dd := *d
		dd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 1, byte(k>>8), byte(k))}
		return dd.DialContext(ctx, network, addr)
	}
	return &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dial,
			DisableKeepAlives:   true,
			MaxIdleConnsPerHost: max(o.Workers, 16),
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
