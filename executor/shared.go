// This file holds the contract of shared state: a plan's lock, journals and
// history kept on its target (`plan { state = nginx.NAME }`), where every
// runner that applies the plan reaches them, so two CI runners with fresh
// checkouts see each other's lock and unfinished apply. The executor and
// the runner keep working on a local folder, as with local state: the
// shared files are pulled into it first, and every record is written to
// the target, through the held lock, before the change it records starts.
// internal/targetstate implements it through the engine that runs nginx.
package executor

import (
	"context"
	"time"
)

// SharedState is where a plan's state is shared. Implementations hold no
// process-wide state: each value names one place.
type SharedState interface {
	// String names the place for messages: `nginx container "lb"
	// (/var/lib/nonstop/web)`.
	String() string
	// Pull makes dir's newest journal (applies/*.jsonl) and history
	// (history.jsonl) the target's: each replaces dir's copy, and any
	// other journal in dir is removed, so dir is a copy of what the
	// runner reads (the last apply, the history) and nothing else; older
	// journals stay on the target only, and a pull costs one journal
	// however many applies the target keeps. It needs no lock: a journal
	// being written is read up to its last whole line.
	Pull(ctx context.Context, dir string) error
	// Lock takes the shared lock for info, waiting up to wait while a
	// live holder has it. A live holder is a *LockError; a holder that is
	// gone is a *LockError with Stale set, unless takeOver, when its lock
	// is replaced by ours and the gone holder returned (what `plan
	// rollback` does: finishing that apply is its job).
	Lock(ctx context.Context, info LockInfo, wait time.Duration, takeOver bool) (SharedLock, *LockInfo, error)
	// Holder reads the lock: whether there is one, its holder, and
	// whether that holder is still running.
	Holder(ctx context.Context) (info LockInfo, alive, found bool, err error)
	// Unlock removes a lock whose holder is gone. It refuses a wrong ID
	// and a live holder, as Unlock does for a local folder.
	Unlock(ctx context.Context, id string) error
}

// SharedLock is a held shared lock. The files of the shared state are
// written through it only, so only the holder writes them.
type SharedLock interface {
	// Append writes line and a newline at the end of the shared file
	// name, relative to the state's folder ("applies/ID.jsonl",
	// "history.jsonl"), creating it, and returns once the target has
	// written it. line holds no newline.
	Append(ctx context.Context, name string, line []byte) error
	// LockTargets takes, through this lock, the locks of what the plan
	// changes (LockTargets' names), where every plan sharing state on
	// the same target sees them: two plans run from two runners do not
	// change the same things at once. A live holder is waited for up to
	// wait, then a *LockError naming the target; one that is gone is
	// replaced. They are released with the lock.
	LockTargets(ctx context.Context, targets []string, info LockInfo, wait time.Duration) error
	// Alive says whether the lock is still held: false once the
	// connection that holds it is lost, when another runner may take it
	// over, so the holder must stop writing.
	Alive() bool
	// Release removes the lock and ends the connection that held it.
	Release(ctx context.Context) error
}
