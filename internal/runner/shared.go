// This file holds shared state in the runner (`plan { state = nginx.NAME }`,
// see executor.SharedState): the lock is the target's, taken before
// anything else; the target's journals and history are pulled into a local
// copy (SharedDir) that apply and rollback work in as they do with local
// state; and every journal and history record is written to the target,
// through the held lock, before it counts.
package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// SharedDir is the local copy of a plan's shared state, in its state
// folder. Every command refreshes it from the target, so removing it loses
// nothing; only apply and rollback write it, under the shared lock.
func SharedDir(stateDir string) string { return filepath.Join(stateDir, "shared") }

// sharedWriteTimeout bounds one record's write to the target. A write
// that does not finish in that time fails the record, and with it the
// change it was to record.
const sharedWriteTimeout = 30 * time.Second

// sharedHold is a held shared lock, with the context its writes run in:
// not cancelled by an interrupt, since a rollback's records must still
// reach the target.
type sharedHold struct {
	lock executor.SharedLock
	ctx  context.Context
}

// lockShared takes the shared lock (taking over one whose holder is gone
// when takeOver) and then makes dir a copy of the target's state. On a
// refused lock nothing is held; a stale refusal still pulls, so the caller
// can say what the gone holder left.
func lockShared(ctx context.Context, sh executor.SharedState, dir string, info executor.LockInfo, wait time.Duration, takeOver bool) (*sharedHold, *executor.LockInfo, error) {
	lock, stale, err := sh.Lock(ctx, info, wait, takeOver)
	if err != nil {
		var le *executor.LockError
		if errors.As(err, &le) && le.Stale {
			if perr := sh.Pull(ctx, dir); perr != nil {
				return nil, nil, perr
			}
		}
		return nil, nil, err
	}
	h := &sharedHold{lock: lock, ctx: context.WithoutCancel(ctx)}
	if err := sh.Pull(ctx, dir); err != nil {
		h.release()
		return nil, nil, err
	}
	return h, stale, nil
}

// append writes one line to a shared file; nil holds nothing to write to.
func (h *sharedHold) append(name string, line []byte) error {
	if h == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, sharedWriteTimeout)
	defer cancel()
	return h.lock.Append(ctx, name, line)
}

// lockTargets takes the target locks on the target too (released with
// the shared lock), so plans run from other runners see them; nil holds
// nothing to lock through.
func (h *sharedHold) lockTargets(ctx context.Context, targets []string, info executor.LockInfo, wait time.Duration) error {
	if h == nil {
		return nil
	}
	return h.lock.LockTargets(ctx, targets, info, wait)
}

// mirror makes j write each record to the target too.
func (h *sharedHold) mirror(j *executor.Journal) {
	if h == nil || j == nil {
		return
	}
	name := "applies/" + filepath.Base(j.Path)
	j.Mirror = func(line []byte) error { return h.append(name, line) }
}

// release gives the shared lock back.
func (h *sharedHold) release() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, sharedWriteTimeout)
	defer cancel()
	_ = h.lock.Release(ctx)
}

// Home is where a command finds a plan's state: Dir, the local folder it
// reads and writes (the state itself, or the copy of a shared state), and
// Shared, the shared state (nil: local).
type Home struct {
	Dir    string
	Shared executor.SharedState
	// close ends the connection Shared uses.
	close func()
}

// Close ends what the Home holds open.
func (h *Home) Close() {
	if h != nil && h.close != nil {
		h.close()
	}
}

// HomeOf is a decoded plan's Home: override (-state-dir) or .nonstop/
// next to the plan, and with `state = nginx.NAME` the shared state in that
// nginx's container, reached through its engine.
func HomeOf(ctx context.Context, p *dsl.Plan, override string) (*Home, error) {
	dir := StateDirFor(p.Path, override)
	if p.State == nil {
		return &Home{Dir: dir}, nil
	}
	sh, closeFn, err := openShared(ctx, p.State)
	if err != nil {
		return nil, err
	}
	return &Home{Dir: SharedDir(dir), Shared: sh, close: closeFn}, nil
}

// stateLock is the lock of a plan's state a command holds: the local
// folder's, or the shared one (hold), never both: with shared state the
// target's lock is the only one that every runner sees.
type stateLock struct {
	local *executor.Lock
	hold  *sharedHold
}

// release gives back whichever lock is held.
func (l *stateLock) release() {
	if l == nil {
		return
	}
	if l.local != nil {
		_ = l.local.Release()
	}
	l.hold.release()
}

// lockState takes the lock of home for an apply. A lock left by a holder
// that is gone is reported with what it left: an unfinished apply (an
// *UnfinishedError naming the holder) or the stale lock itself.
func lockState(ctx context.Context, home *Home, info executor.LockInfo, wait time.Duration) (*stateLock, error) {
	var l stateLock
	var err error
	if home.Shared != nil {
		l.hold, _, err = lockShared(ctx, home.Shared, home.Dir, info, wait, false)
	} else {
		l.local, err = executor.AcquireWait(ctx, home.Dir, info, wait)
	}
	if err == nil {
		return &l, nil
	}
	var le *executor.LockError
	if errors.As(err, &le) && le.Stale {
		u, uerr := unfinished(home.Dir)
		if uerr != nil {
			return nil, uerr
		}
		if u != nil {
			u.Holder = le.Holder
			return nil, u
		}
	}
	return nil, err
}

// Where names the state for messages: the shared place, or the folder.
func (h *Home) Where() string {
	if h.Shared != nil {
		return h.Shared.String()
	}
	return h.Dir
}

// Snapshot is a plan's state as the read-only commands (status, history)
// see it: a folder holding its journals and history, and its lock.
type Snapshot struct {
	Dir string
	// Origin names the shared state the files were copied from; "" when
	// Dir is the state itself.
	Origin string
	// Lock is the lock's holder (nil: no lock); LockAlive, whether that
	// holder still runs.
	Lock      *executor.LockInfo
	LockAlive bool
}

// Snapshot reads the state without locking it. For shared state, the
// target's files are copied into a temporary folder (not the local copy,
// which only a lock holder writes) that the returned function removes.
func (h *Home) Snapshot(ctx context.Context) (*Snapshot, func(), error) {
	if h.Shared == nil {
		s := &Snapshot{Dir: h.Dir}
		if info, err := executor.ReadLock(h.Dir); err == nil {
			s.Lock, s.LockAlive = &info, executor.LockHeld(h.Dir)
		}
		return s, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "nonstop-state-")
	if err != nil {
		return nil, nil, err
	}
	done := func() { _ = os.RemoveAll(tmp) }
	s := &Snapshot{Dir: tmp, Origin: h.Shared.String()}
	info, alive, found, err := h.Shared.Holder(ctx)
	if err == nil && found {
		s.Lock, s.LockAlive = &info, alive
	}
	if err == nil {
		err = h.Shared.Pull(ctx, tmp)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return s, done, nil
}

// Name is how a file of the snapshot is shown: its path, or for shared
// state where it is on the target (the copy is gone once the command
// ends).
func (s *Snapshot) Name(path string) string {
	if s.Origin == "" {
		return path
	}
	rel, err := filepath.Rel(s.Dir, path)
	if err != nil {
		return path
	}
	return s.Origin + ": " + filepath.ToSlash(rel)
}

// Unlock removes a lock whose holder is gone, refusing a wrong ID or a
// live holder (executor.Unlock).
func (h *Home) Unlock(ctx context.Context, id string) error {
	if h.Shared != nil {
		return h.Shared.Unlock(ctx, id)
	}
	return executor.Unlock(h.Dir, id)
}

// sharedStateError places an error of the shared state at the plan's
// `state` attribute (a container without a shell, a folder it cannot
// write), so it renders as a diagnostic there. A lock held by another
// apply, or an unfinished one, is about the state, not the plan's text,
// and stays as it is.
func sharedStateError(p *dsl.Plan, err error) error {
	var le *executor.LockError
	var ue *UnfinishedError
	if p.State == nil || errors.As(err, &le) || errors.As(err, &ue) {
		return err
	}
	return dsl.At(err, "Cannot keep the plan's state on nginx."+p.State.Nginx.Name, p.State.Range)
}

// warner is the capability of a shared state that has something to say
// before it is trusted (targetstate: a folder no mount keeps).
type warner interface {
	Warnings(ctx context.Context) []string
}

// warn passes the shared state's warnings on as events.
func warn(ctx context.Context, home *Home, events func(executor.Event)) {
	w, ok := home.Shared.(warner)
	if !ok || events == nil {
		return
	}
	for _, msg := range w.Warnings(ctx) {
		events(executor.Event{Time: time.Now(), Type: executor.EventWarning, Message: msg})
	}
}
