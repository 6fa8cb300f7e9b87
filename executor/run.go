package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
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
	// Undo compensates a completed Apply.
	Undo(ctx context.Context, rec Record, note func(string)) error
	// Finalize runs once the whole apply has succeeded, e.g. to remove the
	// containers a deploy kept for rollback.
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

// reversible is true unless t says otherwise.
func reversible(t Task, rec Record) bool {
	r, ok := t.(Reversible)
	return !ok || r.Reversible(rec)
}

// Status is where one step stands.
type Status string

// Step statuses, in the order a step moves through them.
const (
	Waiting        Status = "waiting"
	Running        Status = "running"
	Done           Status = "done"
	Failed         Status = "failed"
	Cancelled      Status = "cancelled" // stopped because another step failed
	Skipped        Status = "skipped"   // never started
	RolledBack     Status = "rolled back"
	RollbackFailed Status = "rollback failed"
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
	// Parallelism bounds the steps running at once (default 1... see
	// DefaultParallelism).
	Parallelism int
	// Rollback compensates completed steps on failure; false leaves them
	// (on_failure = "stop").
	Rollback bool
	// Timeout returns step i's deadline.
	Timeout func(i int) time.Duration
	// UndoTimeout bounds each compensation (default 2m).
	UndoTimeout time.Duration
	// RollbackContext is the parent of every compensation's context. The
	// CLI cancels it on a second interrupt: stop rolling back.
	RollbackContext context.Context
	// Events receives progress; calls are serialized.
	Events func(Event)
	// Journal, when set, records each step's intent and result.
	Journal *Journal
}

// DefaultParallelism is enough for the rollouts people write (a batch of a
// few targets) while keeping reloads of one nginx few at a time.
const DefaultParallelism = 4

// Outcome is the result of a Run.
type Outcome struct {
	Status  []Status
	Elapsed []time.Duration
	Notes   [][]string
	// Cause is the root cause of a failure: the first step error, or the
	// interruption. Errors of steps cancelled because of it are not causes.
	Cause     error
	CauseStep int // -1 when the cause is not a step (interrupt)
	// UndoErrors are compensations that failed, by step index.
	UndoErrors map[int]error
	// FinalizeErrors are clean-ups after success that failed; the apply
	// still succeeded.
	FinalizeErrors map[int]error
	// Left lists steps whose changes are still in place after a failure:
	// not rolled back (on_failure = "stop", or the rollback was stopped or
	// failed).
	Left []int
	Code int
}

// Event is one line of progress, also written as a JSON line by -json.
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
	EventSummary  = "summary"
)

type result struct {
	i   int
	rec Record
	err error
	dur time.Duration
}

// Run walks the graph: every step starts once its dependencies are done, up
// to Parallelism at a time. The first failure (or ctx being cancelled) stops
// new steps from starting and cancels running ones; then, with Rollback,
// every completed step is compensated in reverse completion order, each
// under a fresh context, and every compensation error is kept.
func Run(ctx context.Context, g *Graph, tasks []Task, o Options) *Outcome {
	n := len(g.Steps)
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.UndoTimeout <= 0 {
		o.UndoTimeout = 2 * time.Minute
	}
	if o.RollbackContext == nil {
		o.RollbackContext = context.Background()
	}
	out := &Outcome{
		Status: make([]Status, n), Elapsed: make([]time.Duration, n), Notes: make([][]string, n),
		CauseStep: -1, UndoErrors: map[int]error{}, FinalizeErrors: map[int]error{},
	}
	var mu sync.Mutex // serializes events and notes
	emit := func(e Event) {
		e.Time = time.Now()
		if o.Events != nil {
			o.Events(e)
		}
	}
	setStatus := func(i int, s Status, msg string) {
		mu.Lock()
		defer mu.Unlock()
		out.Status[i] = s
		emit(Event{Type: EventStep, Step: g.Steps[i].Addr, Status: s, Message: msg, Elapsed: out.Elapsed[i].Seconds()})
	}
	noteFn := func(i int) func(string) {
		return func(msg string) {
			mu.Lock()
			defer mu.Unlock()
			out.Notes[i] = append(out.Notes[i], msg)
			emit(Event{Type: EventNote, Step: g.Steps[i].Addr, Message: msg})
		}
	}
	for i := range out.Status {
		out.Status[i] = Waiting
	}

	walkCtx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	pending := make([]int, n)
	var ready []int
	for i := 0; i < n; i++ {
		pending[i] = len(g.Deps(i))
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	results := make(chan result)
	records := make([]Record, n)
	var completed []int // completion order
	running := 0
	failed := false
	started := make([]bool, n) // a fused second step starts with its first

	begin := func(i int) {
		running++
		started[i] = true
		setStatus(i, Running, "")
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindIntent, Step: g.Steps[i].Addr})
		}
	}
	timeoutErr := func(err error, sctx context.Context, d time.Duration) error {
		if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && walkCtx.Err() == nil {
			return fmt.Errorf("%w (the step's timeout of %s passed)", err, d)
		}
		return err
	}
	// fuse starts i together with the step u that waits for i alone, when
	// i's task can do both as one action.
	fuse := func(i int) bool {
		f, ok := tasks[i].(Fuser)
		if !ok {
			return false
		}
		for _, u := range g.Users(i) {
			if pending[u] != 1 || started[u] {
				continue
			}
			fa := f.Fuse(tasks[u])
			if fa == nil {
				continue
			}
			begin(i)
			begin(u)
			go func() {
				var d time.Duration
				if o.Timeout != nil {
					d = o.Timeout(i) + o.Timeout(u)
				}
				sctx, cancel := walkCtx, context.CancelFunc(func() {})
				if d > 0 {
					sctx, cancel = context.WithTimeout(walkCtx, d)
				}
				defer cancel()
				t0, t1 := time.Now(), time.Time{}
				sent := false
				rec, err := fa(sctx, noteFn(i), noteFn(u), func(rec Record, err error) {
					if !sent {
						sent, t1 = true, time.Now()
						results <- result{i: i, rec: rec, err: timeoutErr(err, sctx, d), dur: t1.Sub(t0)}
					}
				})
				if !sent {
					t1 = time.Now()
					results <- result{i: i, err: errors.New("the step ended without an outcome"), dur: t1.Sub(t0)}
				}
				results <- result{i: u, rec: rec, err: timeoutErr(err, sctx, d), dur: time.Since(t1)}
			}()
			return true
		}
		return false
	}

	start := func(i int) {
		if fuse(i) {
			return
		}
		begin(i)
		go func() {
			sctx, cancel := walkCtx, context.CancelFunc(func() {})
			if o.Timeout != nil {
				if d := o.Timeout(i); d > 0 {
					sctx, cancel = context.WithTimeout(walkCtx, d)
				}
			}
			defer cancel()
			t0 := time.Now()
			rec, err := tasks[i].Apply(sctx, noteFn(i))
			var d time.Duration
			if o.Timeout != nil {
				d = o.Timeout(i)
			}
			results <- result{i: i, rec: rec, err: timeoutErr(err, sctx, d), dur: time.Since(t0)}
		}()
	}

	for {
		for !failed && walkCtx.Err() == nil && running < o.Parallelism && len(ready) > 0 {
			sort.Ints(ready)
			i := ready[0]
			ready = ready[1:]
			start(i)
		}
		if running == 0 {
			break
		}
		var r result
		select {
		case r = <-results:
		case <-walkCtx.Done():
			if !failed {
				failed = true
				out.Cause = fmt.Errorf("interrupted: %w", context.Cause(walkCtx))
			}
			r = <-results
		}
		running--
		out.Elapsed[r.i] = r.dur
		if r.err == nil {
			records[r.i] = r.rec
			completed = append(completed, r.i)
			if o.Journal != nil {
				_ = o.Journal.Append(Entry{Kind: KindDone, Step: g.Steps[r.i].Addr, Record: r.rec})
			}
			setStatus(r.i, Done, "")
			for _, u := range g.Users(r.i) {
				pending[u]--
				if pending[u] == 0 && !started[u] {
					ready = append(ready, u)
				}
			}
			continue
		}
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindFailed, Step: g.Steps[r.i].Addr, Error: r.err.Error(), Record: r.rec})
		}
		if r.rec != nil {
			// The step failed and could not clean up after itself: its
			// record says what is left, so it is compensated (first) like a
			// completed step, and the exit code cannot claim "nothing
			// changed" or "rolled back cleanly" unless that undo works.
			records[r.i] = r.rec
			completed = append(completed, r.i)
		}
		if failed {
			// Stopped because of the first failure: not a root cause.
			setStatus(r.i, Cancelled, r.err.Error())
			continue
		}
		failed = true
		out.Cause, out.CauseStep = r.err, r.i
		setStatus(r.i, Failed, r.err.Error())
		cancelWalk()
	}
	if !failed && ctx.Err() != nil {
		failed = true
		out.Cause = fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	for i := range out.Status {
		if out.Status[i] == Waiting {
			out.Status[i] = Skipped
		}
	}

	if !failed {
		for _, i := range completed {
			fctx, cancel := context.WithTimeout(o.RollbackContext, o.UndoTimeout)
			if err := tasks[i].Finalize(fctx, records[i]); err != nil {
				out.FinalizeErrors[i] = err
			}
			cancel()
		}
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindEnd, Result: "applied"})
		}
		out.Code = ExitApplied
		return out
	}

	if len(completed) == 0 {
		out.Code = ExitNoChange
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindEnd, Result: "failed, nothing changed"})
		}
		return out
	}
	if !o.Rollback {
		for _, j := range completed {
			if reversible(tasks[j], records[j]) {
				out.Left = append(out.Left, j)
			}
		}
		out.Code = ExitRollbackPartial
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindEnd, Result: "failed, stopped without rollback"})
		}
		return out
	}
	mu.Lock()
	emit(Event{Type: EventRollback, Message: fmt.Sprintf("rolling back %d completed steps", len(completed))})
	mu.Unlock()
	rolled := Compensate(o.RollbackContext, g, tasks, records, completed, o, setStatus, noteFn, out)
	if rolled {
		out.Code = ExitRolledBack
	} else {
		out.Code = ExitRollbackPartial
	}
	return out
}

// Compensate undoes completed steps in reverse completion order. It is
// shared by Run and `plan rollback`, which replays a journal. It reports
// whether every undo succeeded.
func Compensate(parent context.Context, g *Graph, tasks []Task, records []Record, completed []int, o Options,
	setStatus func(int, Status, string), noteFn func(int) func(string), out *Outcome) bool {
	if o.UndoTimeout <= 0 {
		o.UndoTimeout = 2 * time.Minute
	}
	ok := true
	for k := len(completed) - 1; k >= 0; k-- {
		i := completed[k]
		if parent.Err() != nil {
			// Second interrupt: stop here and say what is left.
			for _, j := range completed[:k+1] {
				if reversible(tasks[j], records[j]) {
					out.Left = append(out.Left, j)
				}
			}
			ok = false
			break
		}
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindUndo, Step: g.Steps[i].Addr})
		}
		uctx, cancel := context.WithTimeout(parent, o.UndoTimeout)
		err := tasks[i].Undo(uctx, records[i], noteFn(i))
		cancel()
		if err != nil {
			ok = false
			out.UndoErrors[i] = err
			out.Left = append(out.Left, i)
			if o.Journal != nil {
				_ = o.Journal.Append(Entry{Kind: KindUndoFailed, Step: g.Steps[i].Addr, Error: err.Error()})
			}
			setStatus(i, RollbackFailed, err.Error())
			continue
		}
		if o.Journal != nil {
			_ = o.Journal.Append(Entry{Kind: KindUndone, Step: g.Steps[i].Addr})
		}
		setStatus(i, RolledBack, "")
	}
	sort.Ints(out.Left)
	if o.Journal != nil {
		res := "failed, rolled back"
		if !ok {
			res = "failed, rollback incomplete"
		}
		_ = o.Journal.Append(Entry{Kind: KindEnd, Result: res})
	}
	return ok
}
