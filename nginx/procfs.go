// This file holds what is read from /proc: an nginx master's children and
// their titles (drain detection in microseconds), and the connections a
// process holds (what a drain timeout reports).

package nginx

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// procFS is a process table: the folder it is read from, "/proc" (the
// runtimes' default, see hostProc) or a fake one in tests. A value, not a
// package variable, so a test's fake table is its own.
type procFS string

// hostProc is this machine's process table.
const hostProc procFS = "/proc"

// children returns the PIDs of pid's children. It reads
// /proc/PID/task/*/children (a few small files, microseconds), and when the
// kernel lacks that file (CONFIG_PROC_CHILDREN unset) scans every process's
// stat for its parent instead.
func (p procFS) children(pid int) ([]int, error) {
	tasks, err := os.ReadDir(filepath.Join(string(p), strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(string(p), strconv.Itoa(pid), "task", t.Name(), "children"))
		if os.IsNotExist(err) {
			if _, serr := os.Stat(filepath.Join(string(p), strconv.Itoa(pid), "task", t.Name())); serr == nil {
				return p.scanChildren(pid) // the task exists: no children file in this kernel
			}
			continue // the thread exited meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, nil
}

// scanChildren is children the slow way: every process whose parent is
// pid.
func (p procFS) scanChildren(pid int) ([]int, error) {
	entries, err := os.ReadDir(string(p))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", string(p), err)
	}
	var kids []int
	for _, e := range entries {
		k, err := strconv.Atoi(e.Name())
		if err != nil || k == pid {
			continue
		}
		if pp, err := p.ppid(k); err == nil && pp == pid {
			kids = append(kids, k)
		}
	}
	return kids, nil
}

// tree is the nginx master pid and its children as Processes, read from
// /proc. Children that exit while being read are left out, as ps would.
func (p procFS) tree(master int) ([]Process, error) {
	cmd, err := p.cmdline(master)
	if err != nil {
		return nil, fmt.Errorf("reading master %d: %w", master, err)
	}
	ppid, err := p.ppid(master)
	if err != nil {
		return nil, fmt.Errorf("reading master %d: %w", master, err)
	}
	kids, err := p.children(master)
	if err != nil {
		return nil, fmt.Errorf("listing the children of %d: %w", master, err)
	}
	procs := make([]Process, 1, 1+len(kids))
	procs[0] = Process{PID: master, PPID: ppid, Cmd: cmd}
	for _, k := range kids {
		c, err := p.cmdline(k)
		if err != nil {
			continue // exited meanwhile
		}
		procs = append(procs, Process{PID: k, PPID: master, Cmd: c})
	}
	return procs, nil
}

// ppid reads the parent pid from /proc/PID/stat. The command name field
// can contain spaces and parentheses, so parse after the last ')'.
func (p procFS) ppid(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(string(p), strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected %s/%d/stat", string(p), pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("unexpected %s/%d/stat", string(p), pid)
	}
	return strconv.Atoi(f[1])
}

// cmdline reads the process title; nginx overwrites argv with it
// ("nginx: worker process"), padding with NULs.
func (p procFS) cmdline(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(string(p), strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", err
	}
	b = bytes.ReplaceAll(b, []byte{0}, []byte{' '})
	return strings.TrimSpace(string(b)), nil
}

// inCgroup reports whether pid's cgroup path (as this process's cgroup
// namespace sees it) names the container id: the proof that a PID the
// engine reported is the same process in this machine's /proc, and not a
// stranger in a PID namespace that merely shares the number (a remote
// engine, Docker Desktop's VM).
func (p procFS) inCgroup(pid int, id string) bool {
	if len(id) < 12 {
		return false
	}
	b, err := os.ReadFile(filepath.Join(string(p), strconv.Itoa(pid), "cgroup"))
	return err == nil && bytes.Contains(b, []byte(id))
}

// Conn is one established TCP connection held by an nginx process: after a
// reload, what keeps an old worker alive (a WebSocket, a stream, a slow
// upload). Addresses are as the process's network namespace sees them.
type Conn struct {
	PID    int    `json:"pid"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Inbound: a client's connection to a port nginx listens on; otherwise
	// nginx's own connection to an upstream server.
	Inbound bool `json:"inbound,omitempty"`
	// RemoteName is the container that has the remote address, when the
	// runtime could tell.
	RemoteName string `json:"remote_name,omitempty"`
}

// String reads "local ↔ remote".
func (c Conn) String() string { return c.Local + " ↔ " + c.Remote }

// Summary says what holds a set of connections, for a drain warning:
// "2 client connection(s) (from 172.18.0.1) and 2 to upstreams (app2
// 172.18.0.3:3000 ×2)".
func Summary(conns []Conn) string {
	var clients, ups []string
	nClients := 0
	count := map[string]int{}
	for _, c := range conns {
		if c.Inbound {
			nClients++
			host, _, _ := net.SplitHostPort(c.Remote)
			if count["client "+host] == 0 {
				clients = append(clients, host)
			}
			count["client "+host]++
			continue
		}
		r := c.Remote
		if c.RemoteName != "" {
			r = c.RemoteName + " " + c.Remote
		}
		if count[r] == 0 {
			ups = append(ups, r)
		}
		count[r]++
	}
	sort.Strings(clients)
	sort.Strings(ups)
	var parts []string
	if nClients > 0 {
		parts = append(parts, fmt.Sprintf("%d client connection(s) (from %s)", nClients, strings.Join(clients, ", ")))
	}
	if n := len(conns) - nClients; n > 0 {
		for i, u := range ups {
			if count[u] > 1 {
				ups[i] = fmt.Sprintf("%s ×%d", u, count[u])
			}
		}
		parts = append(parts, fmt.Sprintf("%d connection(s) to upstreams (%s)", n, strings.Join(ups, ", ")))
	}
	return strings.Join(parts, " and ")
}

// listenPorts returns the local ports of pid's listening TCP sockets:
// for the nginx master, the ports it accepts clients on.
func (p procFS) listenPorts(pid int) map[string]bool {
	ports := map[string]bool{}
	for _, c := range p.sockets(pid, "0A") { // 0A: LISTEN
		_, port, _ := net.SplitHostPort(c.Local)
		ports[port] = true
	}
	return ports
}

// ConnLister is implemented by Runtimes that can say which connections a
// process holds (through /proc); a drain that times out names them.
type ConnLister interface {
	Connections(ctx context.Context, pids []int) ([]Conn, error)
}

// conns lists the established TCP connections of pid: the sockets among
// its open files, looked up in its network namespace's TCP tables.
func (p procFS) conns(pid int) ([]Conn, error) {
	if _, err := os.Stat(filepath.Join(string(p), strconv.Itoa(pid), "fd")); err != nil {
		return nil, err
	}
	return p.sockets(pid, "01"), nil // 01: ESTABLISHED
}

// sockets lists pid's TCP sockets in the given state (/proc/net/tcp's
// hex code).
func (p procFS) sockets(pid int, state string) []Conn {
	dir := filepath.Join(string(p), strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && strings.HasSuffix(l, "]") {
			inodes[l[len("socket:["):len(l)-1]] = true
		}
	}
	var conns []Conn
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(dir, "net", table))
		if err != nil {
			continue // no IPv6 in this namespace
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != state || !inodes[f[9]] {
				continue
			}
			local, err1 := hexAddr(f[1])
			remote, err2 := hexAddr(f[2])
			if err1 == nil && err2 == nil {
				conns = append(conns, Conn{PID: pid, Local: local, Remote: remote})
			}
		}
	}
	return conns
}

// hexAddr decodes /proc/net/tcp's "0100007F:1F90": the address as 32-bit
// words in host (little-endian) order, then the port in hex.
func hexAddr(s string) (string, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return "", fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return "", err
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", err
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}

// connsOf is Connections for a set of PIDs, skipping processes that
// exited; a connection to a port the master listens on is Inbound.
func (p procFS) connsOf(master int, pids []int) []Conn {
	listen := p.listenPorts(master)
	var all []Conn
	for _, pid := range pids {
		cs, err := p.conns(pid)
		if err != nil {
			continue
		}
		for _, c := range cs {
			_, port, _ := net.SplitHostPort(c.Local)
			c.Inbound = listen[port]
			all = append(all, c)
		}
	}
	return all
}
