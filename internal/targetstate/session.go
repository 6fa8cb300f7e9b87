// This file holds the session: one long-lived exec of sessionScript per
// held lock, whose shell's PID is in the lock file, and through whose
// stdin every record is appended (one round trip on an open connection,
// not an exec per record). When plan dies, its connection to the engine
// closes, the engine closes the exec's stdin, the shell's `read` fails
// and the shell exits: the lock's PID no longer runs, so the lock is
// stale (TestKilledHolder checks it on the real engine).
package targetstate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// session is the exec holding (or trying to take) the lock.
type session struct {
	st  *Store
	att types.HijackedResponse
	pid int
	// lines are the shell's stdout lines; done is closed when its output
	// ended (the shell exited or the connection broke); quit when we close.
	lines chan string
	done  chan struct{}
	quit  chan struct{}
	once  sync.Once
	// stderr keeps the end of what the shell printed there.
	stderr *tailBuffer

	// mu makes commands one at a time.
	mu sync.Mutex
	// pending counts answers of commands given up on (their ctx ended)
	// still to come, skipped before the next answer.
	pending int
}

// open starts the session shell for apply id and waits for its "=ready".
func (s *Store) open(ctx context.Context, id string) (*session, error) {
	created, err := s.cli.ContainerExecCreate(ctx, s.container, container.ExecOptions{
		Cmd:         []string{"sh", "-c", sessionScript, sessionName(id), s.dir},
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: starting the lock's shell: %w", s, err)
	}
	att, err := s.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: starting the lock's shell: %w", s, err)
	}
	ss := &session{st: s, att: att, lines: make(chan string, 64), done: make(chan struct{}), quit: make(chan struct{}), stderr: &tailBuffer{max: 4096}}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, ss.stderr, att.Reader)
		pw.CloseWithError(err)
	}()
	go ss.read(pr)
	stop := context.AfterFunc(ctx, ss.close)
	defer stop()
	select {
	case l, ok := <-ss.lines:
		if p, isReady := strings.CutPrefix(l, "=ready "); ok && isReady {
			if ss.pid, err = strconv.Atoi(p); err == nil {
				return ss, nil
			}
		}
		ss.close()
		return nil, s.sessionFailed(ctx, created.ID, l)
	case <-ss.done:
		return nil, s.sessionFailed(ctx, created.ID, "")
	}
}

// sessionFailed says why the session shell did not say it was ready.
func (s *Store) sessionFailed(ctx context.Context, execID, out string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: starting the lock's shell: %w", s, context.Cause(ctx))
	}
	code := -1
	for i := 0; i < 100; i++ {
		ins, err := s.cli.ContainerExecInspect(ctx, execID)
		if err != nil || !ins.Running {
			if err == nil {
				code = ins.ExitCode
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.shellError("starting the lock's shell", []byte(out), nil, code)
}

// read passes the shell's stdout lines on, and closes done at its end.
func (ss *session) read(r io.Reader) {
	defer close(ss.done)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		select {
		case ss.lines <- strings.TrimSuffix(l, "\n"):
		case <-ss.quit:
			return
		}
	}
}

// close ends the session: the shell sees the end of its input and exits.
func (ss *session) close() {
	ss.once.Do(func() {
		close(ss.quit)
		ss.att.Close()
	})
}

// ended reports whether the shell's output ended.
func (ss *session) ended() bool {
	select {
	case <-ss.done:
		return true
	default:
		return false
	}
}

// errGone says the session is gone, and what that means for the holder.
func (ss *session) errGone() error {
	msg := strings.TrimSpace(ss.stderr.String())
	if msg != "" {
		msg = " (" + msg + ")"
	}
	return fmt.Errorf("the connection to the shell holding the lock in %s is gone%s: the lock may be taken over by another runner, so nothing more is written", ss.st, msg)
}

// replyTimeout bounds one command's round trip, so a shell or an engine
// that hangs (a stuck filesystem) fails the apply instead of holding it
// forever: a record takes about a millisecond, a 64 KiB one tens.
const replyTimeout = time.Minute

// roundTrip sends one command (its lines, each ending in a newline) and
// returns the answer without its "=" and the shell's messages before it.
func (ss *session) roundTrip(ctx context.Context, req string) (reply, diag string, err error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ctx, cancel := context.WithTimeoutCause(ctx, replyTimeout, fmt.Errorf("no answer from the shell holding the lock in %s within %s", ss.st, replyTimeout))
	defer cancel()
	for ss.pending > 0 {
		if _, _, err := ss.await(ctx); err != nil {
			return "", "", err
		}
		ss.pending--
	}
	if ss.ended() {
		return "", "", ss.errGone()
	}
	stop := context.AfterFunc(ctx, func() { _ = ss.att.Conn.SetWriteDeadline(time.Now()) })
	_, err = io.WriteString(ss.att.Conn, req)
	if !stop() {
		_ = ss.att.Conn.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		// A command cut off midway would be misread: end the session.
		ss.close()
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("%s: %w", ss.st, context.Cause(ctx))
		}
		return "", "", fmt.Errorf("%s: sending to the lock's shell: %w", ss.st, err)
	}
	reply, diag, err = ss.await(ctx)
	if err != nil && ctx.Err() != nil && !ss.ended() {
		ss.pending++
	}
	return reply, diag, err
}

// await reads up to the next answer.
func (ss *session) await(ctx context.Context) (reply, diag string, err error) {
	var msgs []string
	for {
		select {
		case l := <-ss.lines:
			if r, ok := strings.CutPrefix(l, "="); ok {
				return r, joinDiag(msgs, []byte(ss.stderr.String())), nil
			}
			msgs = append(msgs, l)
		case <-ss.done:
			select {
			case l := <-ss.lines:
				if r, ok := strings.CutPrefix(l, "="); ok {
					return r, joinDiag(msgs, nil), nil
				}
				msgs = append(msgs, l)
				continue
			default:
			}
			return "", "", ss.errGone()
		case <-ctx.Done():
			return "", "", fmt.Errorf("%s: waiting for the lock's shell: %w", ss.st, context.Cause(ctx))
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// Write keeps the end of p.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
