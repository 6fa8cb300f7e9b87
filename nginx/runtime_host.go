// This file holds the Runtime of an nginx running directly on this machine:
// found through its pid file, tested with its binary, reloaded with
// SIGHUP, its processes read from /proc.

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

// hostRuntime is nginx running directly on this machine.
type hostRuntime struct {
	pidFile    string
	binary     string
	mainConfig string
	proc       procFS // this machine's process table
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
	return &hostRuntime{pidFile: pidFile, binary: binary, mainConfig: mainConfig, proc: hostProc}
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
	procs, err := h.proc.tree(master)
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
	return h.proc.connsOf(master, pids), nil
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

// Dump implements Runtime: `binary -T -q [-c mainConfig]`, the files named
// as this machine names them.
func (h *hostRuntime) Dump(ctx context.Context) (*Loaded, error) {
	args := []string{"-T", "-q"}
	if h.mainConfig != "" {
		args = append(args, "-c", h.mainConfig)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, h.binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return parseDump(stdout.Bytes()), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: nginx -T: %w", h, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil, &TestError{Output: stderr.String() + stdout.String()}
	}
	return nil, fmt.Errorf("%s: running %s -T: %w", h, h.binary, err)
}

// Seen implements Runtime: a host nginx reads the file itself.
func (h *hostRuntime) Seen(ctx context.Context, path string) (string, []byte, error) {
	b, err := os.ReadFile(path)
	return path, b, err
}
