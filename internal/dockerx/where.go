// This file holds Where: whether an engine runs on this machine, decided
// from its address, for the checks that must not work only because of
// where `plan` happens to run (a probe dialling a container's bridge
// address, a config file read from this machine's disk).
package dockerx

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Place is where an engine runs, as far as its address tells.
type Place struct {
	// Here is true for an engine on this machine: a unix:// socket, or a
	// tcp:// or ssh:// address whose host is a loopback address or
	// "localhost".
	Here bool
	// Host is the resolved engine address (unix://, tcp://, ssh://).
	Host string
	// Source says what chose it, as Resolved.Source.
	Source string
}

// String says where the engine is, for messages: "the engine at
// ssh://deploy@web1 (the plan's docker block) runs on another machine".
func (p Place) String() string {
	where := "on another machine"
	if p.Here {
		where = "on this machine"
	}
	return fmt.Sprintf("the engine at %s (%s) runs %s", p.Host, p.Source, where)
}

// Where resolves e (as Resolve: the plan's block, DOCKER_HOST, contexts,
// the default socket) and tells whether its engine runs on this machine.
// It dials nothing. An ssh:// address counts as this machine only for a
// loopback host: the same rule as tcp://, since a loopback address cannot
// name another machine.
func (e Endpoint) Where() (Place, error) {
	r, err := e.Resolve()
	if err != nil {
		return Place{}, err
	}
	return Place{Here: hostIsHere(r.Host), Host: r.Host, Source: r.Source}, nil
}

// hostIsHere is the address rule of Where.
func hostIsHere(addr string) bool {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		scheme, rest = "tcp", addr
	}
	switch scheme {
	case "unix", "npipe", "fd":
		return true
	case "tcp", "ssh", "http", "https":
	default:
		return false
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
