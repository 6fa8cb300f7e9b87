// This file holds taking the lock (Lock) and the held lock (Append,
// Alive, Release).
package targetstate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
)

// lockPoll is how often a lock held by a live runner is tried again while
// wait runs: each try is an exec in the container (tens of ms).
const lockPoll = 200 * time.Millisecond

// Lock takes the lock for info: it creates DIR and DIR/applies when
// missing, starts the session shell and creates the lock through it. A
// live holder is waited for up to wait, then refused with a
// *executor.LockError; a holder whose session is gone is a stale
// *executor.LockError, unless takeOver, when its lock is replaced by ours
// and the gone holder returned.
func (s *Store) Lock(ctx context.Context, info executor.LockInfo, wait time.Duration, takeOver bool) (executor.SharedLock, *executor.LockInfo, error) {
	if err := validID(info.ID); err != nil {
		return nil, nil, err
	}
	js, err := json.Marshal(info)
	if err != nil {
		return nil, nil, err
	}
	if err := s.ensureDirs(ctx); err != nil {
		return nil, nil, err
	}
	ss, err := s.open(ctx, info.ID)
	if err != nil {
		return nil, nil, err
	}
	l, prev, err := s.take(ctx, ss, string(js), wait, takeOver)
	if err != nil {
		ss.close()
		return nil, nil, err
	}
	if err := s.repairTails(ctx); err != nil {
		_ = l.Release(ctx)
		return nil, nil, err
	}
	return l, prev, nil
}

// take runs the lock's tries on an open session.
func (s *Store) take(ctx context.Context, ss *session, js string, wait time.Duration, takeOver bool) (*sharedLock, *executor.LockInfo, error) {
	mine := strconv.Itoa(ss.pid) + " " + js
	deadline := time.Now().Add(wait)
	for {
		reply, diag, err := ss.roundTrip(ctx, "lock\nlock\n"+js+"\n")
		if err != nil {
			return nil, nil, err
		}
		switch reply {
		case "ok":
			return &sharedLock{ss: ss, mine: mine}, nil, nil
		case "held":
		default:
			return nil, nil, fmt.Errorf("%s: creating the lock: %s", s, diag)
		}
		h, err := s.readHolder(ctx, planLock)
		if err != nil {
			return nil, nil, err
		}
		if !h.found {
			continue // released between the two reads
		}
		if !h.alive {
			if !takeOver {
				return nil, nil, &executor.LockError{Holder: h.info, Stale: true}
			}
			reply, diag, err := ss.roundTrip(ctx, "takeover\nlock\n"+h.raw+"\n"+js+"\n")
			if err != nil {
				return nil, nil, err
			}
			switch reply {
			case "ok":
				return &sharedLock{ss: ss, mine: mine}, &h.info, nil
			case "held":
				continue // another runner was first: look again
			}
			return nil, nil, fmt.Errorf("%s: taking over the lock of %s: %s", s, h.info, diag)
		}
		if wait <= 0 || !time.Now().Before(deadline) {
			return nil, nil, &executor.LockError{Holder: h.info, Waited: wait}
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("stopped waiting for the lock in %s: %w", s, context.Cause(ctx))
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}

// sharedLock is a held lock: its session and the lock's line.
type sharedLock struct {
	ss   *session
	mine string

	mu sync.Mutex
	// failed is the append that failed: the file it wrote may end in a
	// partial line, so nothing more is appended through this lock.
	failed   error
	released bool
	// targets are the target locks taken through this lock (targets.go).
	targets []heldTarget
}

// Append writes line and a newline at the end of the shared file name,
// and returns once the container's shell has written it.
func (l *sharedLock) Append(ctx context.Context, name string, line []byte) error {
	if err := validName(name); err != nil {
		return err
	}
	if i := bytes.IndexAny(line, "\n\x00"); i >= 0 {
		return fmt.Errorf("a line for %s holds a newline or NUL at byte %d: shared records are single lines of text", name, i)
	}
	l.mu.Lock()
	failed, released := l.failed, l.released
	l.mu.Unlock()
	if released {
		return fmt.Errorf("the lock in %s was released: nothing more is written", l.ss.st)
	}
	if failed != nil {
		return fmt.Errorf("an earlier write to %s failed (%w): nothing more is written through this lock", l.ss.st, failed)
	}
	reply, diag, err := l.ss.roundTrip(ctx, "append\n"+name+"\n"+string(line)+"\n")
	if err != nil {
		return err
	}
	if reply == "ok" {
		return nil
	}
	err = fmt.Errorf("%s: appending to %s: %s", l.ss.st, name, diag)
	l.mu.Lock()
	l.failed = err
	l.mu.Unlock()
	return err
}

// Alive says whether the lock is still held: false once released, or
// once the session's shell ended or its connection broke.
func (l *sharedLock) Alive() bool {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	return !released && !l.ss.ended()
}

// Release removes the lock and ends the session. When the session is
// already gone, the lock is removed by a one-shot exec if it is still
// ours. A second Release does nothing.
func (l *sharedLock) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	defer l.ss.close()
	if !l.ss.ended() {
		l.unlockTargets(ctx)
		reply, diag, err := l.ss.roundTrip(ctx, "release\n")
		if err == nil {
			if reply != "ok" {
				return fmt.Errorf("%s: removing the lock: %s", l.ss.st, diag)
			}
			// The shell exits after answering: wait for it, so the
			// lock is free for the next Lock on its return.
			select {
			case <-l.ss.done:
			case <-ctx.Done():
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return l.ss.st.remove(ctx, l.mine)
}
