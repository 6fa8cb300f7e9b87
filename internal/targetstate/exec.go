// This file holds the one-shot execs in the container (reading the lock,
// removing it, the check) and how a shell that could not run is told.
package targetstate

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// exec runs cmd in the container with stdin (nil: none) and returns its
// stdout, stderr and exit code.
func (s *Store) exec(ctx context.Context, cmd []string, stdin []byte) (stdout, stderr []byte, code int, err error) {
	created, err := s.cli.ContainerExecCreate(ctx, s.container, container.ExecOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: exec %s: %w", s, cmd[0], err)
	}
	att, err := s.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: exec %s: %w", s, cmd[0], err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	// A shell that ended early may not have taken all of stdin: what it
	// did not answer shows in its output, which the callers check, so a
	// failed write needs no error of its own.
	written := make(chan struct{})
	go func() {
		defer close(written)
		if stdin != nil {
			_, _ = att.Conn.Write(stdin)
			_ = att.CloseWrite()
		}
	}()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		return nil, nil, 0, fmt.Errorf("%s: exec %s: reading output: %w", s, cmd[0], err)
	}
	<-written
	for {
		ins, err := s.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: exec %s: %w", s, cmd[0], err)
		}
		if !ins.Running {
			return out.Bytes(), errOut.Bytes(), ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, fmt.Errorf("%s: exec %s: %w", s, cmd[0], context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// oneShot runs the session script with commands on stdin (then end of
// input, which ends it) and returns the first command's answer (without
// its "=") and the shell's messages before it.
func (s *Store) oneShot(ctx context.Context, commands string) (reply, diag string, err error) {
	out, errOut, code, err := s.exec(ctx, []string{"sh", "-c", sessionScript, "nonstop-state", s.dir}, []byte(commands))
	if err != nil {
		return "", "", err
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(first, "=ready ") {
		return "", "", s.shellError("running sh", out, errOut, code)
	}
	var msgs []string
	for _, l := range strings.Split(rest, "\n") {
		if r, ok := strings.CutPrefix(l, "="); ok {
			return r, joinDiag(msgs, errOut), nil
		}
		if l != "" {
			msgs = append(msgs, l)
		}
	}
	return "", "", s.shellError("running sh", out, errOut, code)
}

// joinDiag is the shell's messages for an error: its lines before the
// answer, else its stderr.
func joinDiag(msgs []string, errOut []byte) string {
	if len(msgs) == 0 {
		if e := strings.TrimSpace(string(errOut)); e != "" {
			return e
		}
		return "no message"
	}
	return strings.Join(msgs, "; ")
}

// shellError says why a shell in the container did not answer: no shell
// in the image (the engine's exec fails with exit 126 or 127, "executable
// file not found"), the folder cannot be entered, or what it printed.
func (s *Store) shellError(what string, out, errOut []byte, code int) error {
	msg := strings.TrimSpace(string(errOut) + " " + string(out))
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	if code == 126 || code == 127 || strings.Contains(msg, "executable file not found") {
		return fmt.Errorf("%s: %s: exit %d (%s): %w", s, what, code, msg, ErrNeedsTools)
	}
	if code == 3 {
		return fmt.Errorf("%s: the shell cannot enter %s (%s). Fix: make %s a folder the container's user can write (a mounted volume keeps it when the container is replaced)", s, s.dir, msg, s.dir)
	}
	return fmt.Errorf("%s: %s: exit %d: %s", s, what, code, msg)
}
