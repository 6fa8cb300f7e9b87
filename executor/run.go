// This file holds the executor's contract with step types (Task and its
// optional capabilities), the options and outcome of a walk, and Run, which
// strings the walk's parts together: the scheduler (walk.go), the journal
// records it writes on the way (journal.go), progress (progress.go), and
// the commit or the compensation at the end (commit.go, compensate.go).
package executor

import (
	"context"
	"encoding/json"
	"time"
)

// Record is what a completed step leaves for its undo and finalize: a JSON
// document whose type belongs to the step type. It is journaled, so an undo
// can run in a later process (`plan rollback`).
type Record = json.RawMessage

// Task is one step as the executor runs it. A task that fails must leave
// nothing changed behind it (it undoes its own partial work); the executor
// only compensates tasks that completed. When that cleanup fails, Apply
// returns a non-nil record with its error: what is left, for Undo.
type Task interface {
	// Apply does the step. note reports progress meant for the user.
	Apply(ctx context.Context, note func(string)) (Record, error)
	Undoer
	Finalizer
}

// Undoer compensates a completed Apply from its record. A journal entry
// replayed by `plan rollback` is one too, without the rest of a Task.
type Undoer interface {
	Undo(ctx context.Context, rec Record, note func(string)) error
}

// Finalizer runs once the whole apply has committed, e.g. to remove the
// containers a deploy kept for rollback. It must be idempotent: after a
// crash past the commit, recovery runs it again.
type Finalizer interface {
	Finalize(ctx context.Context, rec Record) error
}

// Fuser is implemented by Tasks that can do their work together with that
// of a step waiting for them alone, as one action: a restore and the next
// drain on the same nginx become one reload instead of two. Fuse returns
// nil when it cannot fuse with next; the walk then runs them one after the
// other as usual.
type Fuser interface {
	Fuse(next Task) FusedApply
}

// FusedApply runs two fused steps. It calls firstDone exactly once, with
// the first step's outcome as soon as that is known (the second may go on,
// e.g. waiting for its drain), and returns the second's. When the first
// fails, the second must have changed nothing, and says so in its error.
type FusedApply func(ctx context.Context, noteFirst, noteSecond func(string), firstDone func(Record, error)) (Record, error)

// Reversible is implemented by Tasks that can tell whether a completed
// Apply left anything to undo (a health check never does). When a rollback
// is cut short, the steps that report false are left out of what is "still
// in place", so the list the user must act on holds only real changes.
type Reversible interface {
	Reversible(rec Record) bool
}

// reversible is true unless u says otherwise.
func reversible(u Undoer, rec Record) bool {
	r, ok := u.(Reversible)
	return !ok || r.Reversible(rec)
}

// Status is where one step stands.
type Status string

// Step statuses, in the order a step moves through them.
const (
	Waiting   Status = "waiting"
	Running   Status = "running"
	Done      Status = "done"
	Failed    Status = "failed"
	Cancelled Status = "cancelled" // stopped because another step failed
	Skipped   Status = "skipped"   // never started
	// Stuck is a step that did not return within its deadline (or the
	// cancellation) plus the grace: it ignores its context. The walk stops
	// waiting for it; what it changed is left for `plan rollback`, which
	// undoes it from its journal checkpoint.
	Stuck          Status = "stuck"
	RolledBack     Status = "rolled back"
	RollbackFailed Status = "rollback failed"
	Finalized      Status = "finalized"
)

// Exit codes of apply, as the design fixes them.
const (
	ExitApplied         = 0
	ExitNoChange        = 1 // failed before any change
	ExitRolledBack      = 2 // failed and rolled back cleanly
	ExitRollbackPartial = 3 // failed and the rollback is incomplete
)

// Options tunes a Run.
type Options struct {
	// Parallelism bounds the steps running at once (see DefaultParallelism).
	Parallelism int
	// Rollback compensates completed steps on failure; false leaves them
	// (on_failure = "stop").
	Rollback bool
	// Timeout returns step i's deadline.
	Timeout func(i int) time.Duration
	// UndoTimeout bounds each compensation and each finalize (see
	// DefaultUndoTimeout).
	UndoTimeout time.Duration
	// Grace is how long the walk waits for a step (or an undo) past its
	// deadline or cancellation before it reports it stuck and goes on
	// (see DefaultGrace).
	Grace time.Duration
	// RollbackContext is the parent of every compensation's context. The
	// CLI cancels it on a second interrupt: stop rolling back.
	RollbackContext context.Context
	// Events receives progress; calls are serialized.
	Events func(Event)
	// Journal, when set, records each step's intent and result. A record
	// that cannot be written stops the walk before the change it was to
	// record.
	Journal *Journal
}

// Defaults of Options.
const (
	// DefaultParallelism is enough for the rollouts people write (a batch
	// of a few targets) while keeping reloads of one nginx few at a time.
	DefaultParallelism = 4
	DefaultUndoTimeout = 2 * time.Minute
	DefaultGrace       = 15 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.UndoTimeout <= 0 {
		o.UndoTimeout = DefaultUndoTimeout
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.RollbackContext == nil {
		o.RollbackContext = context.Background()
	}
	return o
}

// Outcome is the result of a Run.
type Outcome struct {
	Status  []Status
	Elapsed []time.Duration
	Notes   [][]string
	// Cause is the root cause of a failure: the first step error, the
	// interruption, or a journal record that could not be written. Errors
	// of steps cancelled because of it are not causes.
	Cause     error
	CauseStep int // -1 when the cause is not a step (interrupt, journal)
	// UndoErrors are compensations that failed, by step index.
	UndoErrors map[int]error
	// FinalizeErrors are clean-ups after the commit that failed; the apply
	// still succeeded.
	FinalizeErrors map[int]error
	// JournalErrors are journal records that could not be written after the
	// point where they could stop anything (during a rollback, after the
	// commit): the journal may say more is in place than is, and `plan
	// rollback` (idempotent) finishes the bookkeeping.
	JournalErrors []error
	// Left lists steps whose changes are still in place after a failure:
	// not rolled back (on_failure = "stop", or the rollback was stopped or
	// failed), or stuck.
	Left []int
	Code int
}

// Event is one line of progress: the display draws it, and -json turns it
// into a message of the machine-readable stream (cmd/plan/jsonui.go).
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Step    string    `json:"step,omitempty"`
	Status  Status    `json:"status,omitempty"`
	Message string    `json:"message,omitempty"`
	Elapsed float64   `json:"elapsed_s,omitempty"`
}

// Event types.
const (
	EventStep     = "step"     // a step changed status
	EventNote     = "note"     // a step reported progress
	EventRollback = "rollback" // rollback begins
	EventCommit   = "commit"   // every step is done and the commit is journaled
	// EventWarning is something the user should know that is about no
	// step (a shared state that a mount does not keep).
	EventWarning = "warning"
)

// Run walks the graph: every step starts once its dependencies are done, up
// to Parallelism at a time. The first failure (or ctx being cancelled) stops
// new steps from starting and cancels running ones; then, with Rollback,
// every completed step is compensated in reverse completion order, each
// under a fresh context, and every compensation error is kept. When every
// step is done, the commit is journaled before any finalize runs: from
// then on, recovery finishes the apply instead of undoing it.
func Run(ctx context.Context, g *Graph, tasks []Task, o Options) *Outcome {
	w := newWalk(g, tasks, o.withDefaults())
	w.schedule(ctx)
	if !w.failed {
		return w.commit()
	}
	return w.unwind()
}
