package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// hostRuntime is nginx running directly on this machine.
type hostRuntime struct {
	pidFile    string
	binary     string
	mainConfig string
}

// HostRuntime talks to an nginx running on this machine, found through its
// pid file (read on every call, so a restarted nginx is picked up). binary
// defaults to /usr/sbin/nginx; mainConfig is the file passed to `nginx -t -c`,
// empty for nginx's compiled-in default. Test passes no `-p` or `-g`, so the
// main config should use absolute paths (as distribution configs do).
func HostRuntime(pidFile, binary, mainConfig string) Runtime {
	if binary == "" {
		binary = "/usr/sbin/nginx"
	}
	return &hostRuntime{pidFile: pidFile, binary: binary, mainConfig: mainConfig}
}

// String names the pid file, the one thing that identifies a host nginx.
func (h *hostRuntime) String() string {
	return fmt.Sprintf("host nginx (pid file %s)", h.pidFile)
}

// masterPID reads the pid file and checks that the process is alive. An
// empty file is read again for a moment: nginx creates it (O_TRUNC) and
// writes the pid in two steps while it starts.
func (h *hostRuntime) masterPID() (int, error) {
	var b []byte
	for try := 0; ; try++ {
		var err error
		b, err = os.ReadFile(h.pidFile)
		if err != nil {
			return 0, fmt.Errorf("%s: reading pid file: %w (is nginx running?)", h, err)
		}
		if len(bytes.TrimSpace(b)) > 0 || try == 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: pid file holds %q, not a pid", h, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, fmt.Errorf("%s: process %d from the pid file is not running (stale pid file?): %w", h, pid, err)
	}
	return pid, nil
}

// Test runs `binary -t -q [-c mainConfig]` (argv, no shell); -q keeps the
// output to nginx's errors, which a failure returns in a *TestError.
func (h *hostRuntime) Test(ctx context.Context) error {
	args := []string{"-t", "-q"}
	if h.mainConfig != "" {
		args = append(args, "-c", h.mainConfig)
	}
	cmd := exec.CommandContext(ctx, h.binary, args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: nginx -t: %w", h, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &TestError{Output: string(out)}
	}
	return fmt.Errorf("%s: running %s -t: %w", h, h.binary, err)
}

// Reload sends SIGHUP to the pid in the pid file.
func (h *hostRuntime) Reload(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pid, err := h.masterPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("%s: sending SIGHUP to %d: %w", h, pid, err)
	}
	return nil
}

// Processes reads the master and its children from /proc; titles come
// from /proc/PID/cmdline, which nginx overwrites with its process title.
func (h *hostRuntime) Processes(ctx context.Context) ([]Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	master, err := h.masterPID()
	if err != nil {
		return nil, err
	}
	procs, err := procTree(master)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h, err)
	}
	return procs, nil
}

// Connections implements ConnLister through /proc.
func (h *hostRuntime) Connections(ctx context.Context, pids []int) ([]Conn, error) {
	master, err := h.masterPID()
	if err != nil {
		return nil, err
	}
	return connsOf(master, pids), nil
}

// Resolves uses the host's resolver (net.DefaultResolver), which is the
// resolver a host nginx's getaddrinfo uses too.
func (h *hostRuntime) Resolves(ctx context.Context, host string) error {
	if resolveLiteral(host) {
		return nil
	}
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return fmt.Errorf("host %q does not resolve on this machine, where %s runs: %w", host, h, err)
	}
	return nil
}
