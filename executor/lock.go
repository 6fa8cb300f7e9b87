// This file holds the lock of a plan's state folder: one apply or rollback
// at a time per plan, with the holder named in lock.json. The lock of the
// things a plan changes, across plans, is in targets.go.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// LockInfo says who holds a plan's state.
type LockInfo struct {
	ID       string    `json:"id"`
	PID      int       `json:"pid"`
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	Plan     string    `json:"plan"`
	PlanHash string    `json:"plan_hash"`
}

// String names the holder the way refusals show it: apply id, pid, host
// and start time, what a user needs to find the process.
func (l LockInfo) String() string {
	return fmt.Sprintf("apply %s (pid %d on %s, started %s)", l.ID, l.PID, l.Host, l.Started.Local().Format(time.RFC3339))
}

// Lock is a held lock on a plan's state folder. The kernel lock (flock)
// dies with its process; the info file stays, so a lock left by a killed
// apply is still seen, and reported as stale, until `plan unlock`.
type Lock struct {
	fl   *flock.Flock
	info string
}

// ErrLocked is wrapped when another apply holds the lock.
var ErrLocked = errors.New("the plan's state is locked")

// ErrStaleLock is wrapped when a lock's holder is dead.
var ErrStaleLock = errors.New("stale lock")

// LockError names the holder of a lock.
type LockError struct {
	Holder LockInfo
	Stale  bool
	// Target, for the lock of something a plan changes (see LockTargets),
	// names it: "nginx config /etc/nginx/conf.d/apps.conf".
	Target string
	// Waited is the -lock-timeout that passed.
	Waited time.Duration
}

// Error says who holds the lock and, when the holder is dead, that the lock
// is stale and how to remove it.
func (e *LockError) Error() string {
	waited := ""
	if e.Waited > 0 {
		waited = fmt.Sprintf(" (after waiting %s)", e.Waited)
	}
	if e.Target != "" {
		plan := ""
		if e.Holder.Plan != "" {
			plan = " of plan " + e.Holder.Plan
		}
		return fmt.Sprintf("%s is being changed by %s%s%s. Wait for it to finish, or pass -lock-timeout to wait for it", e.Target, e.Holder, plan, waited)
	}
	if e.Stale {
		return fmt.Sprintf("a lock was left by %s, which is no longer running. Check `plan status` (and `plan rollback` if an apply was interrupted), then remove it with `plan unlock %s`", e.Holder, e.Holder.ID)
	}
	return fmt.Sprintf("the plan's state is locked by %s%s. Wait for it to finish (-lock-timeout waits); if that process is gone, run `plan unlock %s`", e.Holder, waited, e.Holder.ID)
}

// Unwrap lets errors.Is match ErrLocked or ErrStaleLock.
func (e *LockError) Unwrap() error {
	if e.Stale {
		return ErrStaleLock
	}
	return ErrLocked
}

// lockPoll is how often a lock held by another process is tried again
// while -lock-timeout runs.
const lockPoll = 100 * time.Millisecond

// Acquire takes the lock of a state folder, or says who holds it.
func Acquire(dir string, info LockInfo) (*Lock, error) {
	return AcquireWait(context.Background(), dir, info, 0)
}

// AcquireWait takes the lock of a state folder, waiting up to wait while a
// live process holds it (as Terraform's -lock-timeout). A lock left by a
// dead process is reported at once: waiting would not help. Cancelling
// ctx ends the wait.
func AcquireWait(ctx context.Context, dir string, info LockInfo, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	fl := flock.New(filepath.Join(dir, "lock"), flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err == nil && !ok && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		ok, err = fl.TryLockContext(wctx, lockPoll)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		} else if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("stopped waiting: %w", context.Cause(ctx))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	infoPath := filepath.Join(dir, "lock.json")
	if !ok {
		holder, _ := ReadLock(dir)
		return nil, &LockError{Holder: holder, Waited: wait}
	}
	if holder, err := ReadLock(dir); err == nil {
		_ = fl.Unlock()
		return nil, &LockError{Holder: holder, Stale: true}
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(infoPath, append(b, '\n'), 0o600); err != nil {
		_ = fl.Unlock()
		return nil, err
	}
	return &Lock{fl: fl, info: infoPath}, nil
}

// TakeOver takes the lock of a state folder whose holder is dead (what
// `plan rollback` does: finishing that process's work is its job), and
// returns the dead holder. A live holder is an error, as for Acquire.
func TakeOver(ctx context.Context, dir string, info LockInfo, wait time.Duration) (*Lock, *LockInfo, error) {
	l, err := AcquireWait(ctx, dir, info, wait)
	var le *LockError
	if err == nil || !errors.As(err, &le) || !le.Stale {
		return l, nil, err
	}
	if err := os.Remove(filepath.Join(dir, "lock.json")); err != nil {
		return nil, nil, err
	}
	l, err = AcquireWait(ctx, dir, info, wait)
	if err != nil {
		return nil, nil, err
	}
	return l, &le.Holder, nil
}

// Release removes the lock. A nil Lock holds nothing.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	err := os.Remove(l.info)
	return errors.Join(err, l.fl.Unlock())
}

// ReadLock returns the holder recorded in a state folder.
func ReadLock(dir string) (LockInfo, error) {
	var info LockInfo
	b, err := os.ReadFile(filepath.Join(dir, "lock.json"))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// LockHeld reports whether a live process holds the lock now.
func LockHeld(dir string) bool {
	fl := flock.New(filepath.Join(dir, "lock"))
	ok, err := fl.TryLock()
	if err != nil {
		return false
	}
	if ok {
		_ = fl.Unlock()
		return false
	}
	return true
}

// Unlock removes a lock left by a dead process. It refuses a wrong ID, and
// a lock whose holder is still running.
func Unlock(dir, id string) error {
	holder, err := ReadLock(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("there is no lock in %s", dir)
		}
		return err
	}
	if holder.ID != id {
		return fmt.Errorf("the lock's ID is %s, not %s: nothing was removed", holder.ID, id)
	}
	if LockHeld(dir) {
		return fmt.Errorf("%s is still running: stop it instead of unlocking", holder)
	}
	return os.Remove(filepath.Join(dir, "lock.json"))
}
