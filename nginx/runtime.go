// This file holds the Runtime contract (how the reload backend talks to one
// running nginx), the values it returns (Process, TestError) and the
// helpers that read them (masterOf, isWorker, resolveLiteral).

package nginx

import (
	"context"
	"net"
	"strings"
)

// Runtime is how the reload backend talks to one running nginx: test the
// config on disk, reload it, see its processes, and check names the way that
// nginx will resolve them. There is one implementation for nginx in a Docker
// container and one for nginx on the host; tests can supply their own.
type Runtime interface {
	// Test runs `nginx -t` against the config nginx would load on reload.
	// A rejected config is reported as a *TestError carrying nginx's own
	// output, so operators see nginx's message, not ours.
	Test(ctx context.Context) error
	// Reload sends SIGHUP to the master: nginx starts a new worker
	// generation with the new config and gracefully shuts down the old one.
	Reload(ctx context.Context) error
	// Processes lists the master and its children (workers, cache manager
	// and loader) with their titles, e.g. "nginx: worker process" or
	// "nginx: worker process is shutting down". It is the only way to see
	// when a previous worker generation has drained.
	Processes(ctx context.Context) ([]Process, error)
	// Resolves returns nil if host resolves where nginx runs (nginx refuses
	// to load a config naming an unresolvable upstream host); the error
	// names the host.
	Resolves(ctx context.Context, host string) error
	// Dump runs `nginx -T` against the config nginx would load on reload:
	// it tests it as Test does (a rejected config is a *TestError) and
	// returns every file nginx loads with the bytes it read, mapped to
	// this machine's paths. It is how preflight proves that the file it
	// will edit is one nginx loads.
	Dump(ctx context.Context) (*Loaded, error)
	// Seen returns what nginx reads now at the file that is path on this
	// machine, and the name nginx knows it by: for a container, through
	// its mounts, as its processes see it (an error wrapping ErrNotLoaded
	// when no mount brings path in). It confirms that an edit is what
	// nginx loads on reload.
	Seen(ctx context.Context, path string) (name string, data []byte, err error)
	// String names the nginx for messages: `container "x"` or
	// `host nginx (pid file /run/nginx.pid)`.
	String() string
}

// Process is one nginx process. PIDs are as the caller's machine sees them
// (host PIDs for containers), stable between calls, which is all drain
// detection needs.
type Process struct {
	PID  int    `json:"pid"`
	PPID int    `json:"ppid"`
	Cmd  string `json:"cmd"`
}

// TestError is `nginx -t` rejecting a config. It keeps nginx's output
// verbatim because that message (file, line, directive) is what the operator
// needs to fix the config.
type TestError struct {
	Output string
}

// Error includes nginx's message.
func (e *TestError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		out = "(no output)"
	}
	return "nginx -t failed: " + out
}

// isWorker reports whether a process title is a live (not shutting down)
// worker: the proof that a reload produced a new generation.
func isWorker(cmd string) bool {
	return strings.Contains(cmd, "worker process") && !strings.Contains(cmd, "shutting down")
}

// masterOf splits a Processes result into the master (the process whose
// parent is not in the list) and its children.
func masterOf(procs []Process) (master Process, children []Process, ok bool) {
	pids := make(map[int]bool, len(procs))
	for _, p := range procs {
		pids[p.PID] = true
	}
	for _, p := range procs {
		if !pids[p.PPID] {
			master, ok = p, true
			break
		}
	}
	if !ok {
		return Process{}, nil, false
	}
	for _, p := range procs {
		if p.PPID == master.PID {
			children = append(children, p)
		}
	}
	return master, children, true
}

// resolveLiteral reports whether host needs no name resolution at all: IP
// literals (with or without IPv6 brackets) and unix sockets.
func resolveLiteral(host string) bool {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(h) != nil || strings.HasPrefix(host, "unix:")
}
