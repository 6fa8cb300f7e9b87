// This file holds the scheduler: which step starts when, each step's
// goroutine with its deadline and the grace past it, the fusing of a step
// with the one waiting for it alone (groups of steps: group.go), and the
// journal records the walk writes before and after each step.
package executor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// result is what a step's goroutine reports to the scheduler.
type result struct {
	i   int
	rec Record
	err error
	dur time.Duration
	// stuck: the step did not return within its deadline (or the walk's
	// cancellation) plus the grace.
	stuck bool
}

// walk is one Run's state. Only the scheduler's goroutine touches it,
// except out's status and notes, which progress guards.
type walk struct {
	g     *Graph
	tasks []Task
	o     Options
	out   *Outcome
	p     *progress

	ctx     context.Context // the walk's: cancelled at the first failure
	cancel  context.CancelFunc
	pending []int // unfinished dependencies, per step
	ready   []int
	started []bool // a fused second step starts with its first
	running int    // steps started whose result is not in yet
	// slots are the parallelism slots in use; slot[i] is the one step i
	// holds, shared by the steps of a fused group (see fuseGroup).
	slots   int
	slot    []*int
	results chan result

	records   []Record
	completed []int // completion order
	stuck     []int
	failed    bool
}

func newWalk(g *Graph, tasks []Task, o Options) *walk {
	n := len(g.Steps)
	out := &Outcome{
		Status: make([]Status, n), Elapsed: make([]time.Duration, n), Notes: make([][]string, n),
		CauseStep: -1, UndoErrors: map[int]error{}, FinalizeErrors: map[int]error{},
	}
	for i := range out.Status {
		out.Status[i] = Waiting
	}
	w := &walk{g: g, tasks: tasks, o: o, out: out,
		p:       &progress{events: o.Events, addr: func(i int) string { return g.Steps[i].Addr }, out: out},
		pending: make([]int, n), started: make([]bool, n), records: make([]Record, n), slot: make([]*int, n),
		results: make(chan result, 2*n)}
	for i := 0; i < n; i++ {
		w.pending[i] = len(g.Deps(i))
		if w.pending[i] == 0 {
			w.ready = append(w.ready, i)
		}
	}
	return w
}

// schedule runs steps until every one is done, or until the first failure
// (or ctx's cancellation) and the end of the steps then running.
func (w *walk) schedule(ctx context.Context) {
	w.ctx, w.cancel = context.WithCancel(ctx)
	defer w.cancel()
	for {
		for !w.failed && w.ctx.Err() == nil && w.slots < w.o.Parallelism && len(w.ready) > 0 {
			sort.Ints(w.ready)
			i := w.ready[0]
			w.ready = w.ready[1:]
			w.start(i)
		}
		if w.running == 0 {
			break
		}
		var r result
		select {
		case r = <-w.results:
		case <-w.ctx.Done():
			w.fail(-1, fmt.Errorf("interrupted: %w", context.Cause(w.ctx)))
			r = <-w.results
		}
		w.running--
		w.release(r.i)
		w.settle(r)
	}
	if ctx.Err() != nil {
		w.fail(-1, fmt.Errorf("interrupted: %w", context.Cause(ctx)))
	}
	for i, s := range w.out.Status {
		if s == Waiting {
			w.out.Status[i] = Skipped
		}
	}
}

// fail records the walk's first failure, its root cause, and stops it.
// It reports whether this was the first.
func (w *walk) fail(step int, err error) bool {
	if w.failed {
		return false
	}
	w.failed = true
	w.out.Cause, w.out.CauseStep = err, step
	w.cancel()
	return true
}

// begin journals step i's intent and marks it running, holding slot (a
// new one when nil). A step whose intent cannot be journaled does not
// start: the walk stops there.
func (w *walk) begin(i int, slot *int) bool {
	addr := w.g.Steps[i].Addr
	if err := w.o.Journal.Append(Entry{Kind: KindIntent, Step: addr}); err != nil {
		w.fail(-1, fmt.Errorf("%s was not started: its intent could not be journaled: %w", addr, err))
		return false
	}
	if slot == nil {
		slot = new(int)
	}
	if *slot == 0 {
		w.slots++
	}
	*slot++
	w.slot[i] = slot
	w.running++
	w.started[i] = true
	w.p.status(i, Running, "")
	return true
}

// release gives up step i's share of its parallelism slot.
func (w *walk) release(i int) {
	if s := w.slot[i]; s != nil {
		w.slot[i] = nil
		if *s--; *s == 0 {
			w.slots--
		}
	}
}

// settle takes in a step's outcome: done (its users may start), failed
// (the first failure stops the walk), or stuck.
func (w *walk) settle(r result) {
	w.out.Elapsed[r.i] = r.dur
	addr := w.g.Steps[r.i].Addr
	switch {
	case r.stuck:
		// No journal record: it stays interrupted mid-step, so `plan
		// rollback` undoes it from its checkpoint once this process is gone.
		w.stuck = append(w.stuck, r.i)
		w.fail(r.i, r.err)
		w.p.status(r.i, Stuck, r.err.Error())
	case r.err == nil:
		w.records[r.i] = r.rec
		w.completed = append(w.completed, r.i)
		if err := w.o.Journal.Append(Entry{Kind: KindDone, Step: addr, Record: r.rec}); err != nil {
			// Its change is in place and compensated below like any
			// completed step; should this process die first, the journal
			// still has the step's checkpoint.
			w.fail(-1, fmt.Errorf("%s is done but could not be journaled as done: %w", addr, err))
		}
		w.p.status(r.i, Done, "")
		for _, u := range w.g.Users(r.i) {
			w.pending[u]--
			if w.pending[u] == 0 && !w.started[u] {
				w.ready = append(w.ready, u)
			}
		}
	default:
		if err := w.o.Journal.Append(Entry{Kind: KindFailed, Step: addr, Error: r.err.Error(), Record: r.rec}); err != nil {
			w.out.JournalErrors = append(w.out.JournalErrors, err)
		}
		if r.rec != nil {
			// The step failed and could not clean up after itself: its
			// record says what is left, so it is compensated (first) like a
			// completed step, and the exit code cannot claim "nothing
			// changed" or "rolled back cleanly" unless that undo works.
			w.records[r.i] = r.rec
			w.completed = append(w.completed, r.i)
		}
		if w.fail(r.i, r.err) {
			w.p.status(r.i, Failed, r.err.Error())
		} else {
			// Stopped because of the first failure: not a root cause.
			w.p.status(r.i, Cancelled, r.err.Error())
		}
	}
}

func (w *walk) timeout(i int) time.Duration {
	if w.o.Timeout == nil {
		return 0
	}
	return w.o.Timeout(i)
}

// stepContext is the context of a step with deadline d (0: none).
func (w *walk) stepContext(d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(w.ctx, d)
	}
	return context.WithCancel(w.ctx)
}

// explain adds the step's timeout to an error it caused.
func (w *walk) explain(err error, sctx context.Context, d time.Duration) error {
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && w.ctx.Err() == nil {
		return fmt.Errorf("%w (the step's timeout of %s passed)", err, d)
	}
	return err
}

// start runs step i: in a group (fuseGroup), fused with the step waiting
// for it alone (fuse), when its task can do that as one action, or alone.
func (w *walk) start(i int) {
	if w.fuseGroup(i) || w.fuse(i) {
		return
	}
	if !w.begin(i, nil) {
		return
	}
	d := w.timeout(i)
	sctx, cancel := w.stepContext(d)
	done := make(chan result, 1)
	go func() {
		rec, err := w.tasks[i].Apply(sctx, w.p.note(i))
		done <- result{rec: rec, err: err}
	}()
	go func() {
		defer cancel()
		t0 := time.Now()
		r, ok := await(sctx, w.o.Grace, done)
		r.i, r.dur = i, time.Since(t0)
		if !ok {
			r = w.stuckResult(i, d, t0)
		} else {
			r.err = w.explain(r.err, sctx, d)
		}
		w.results <- r
	}()
}

// stuckResult is the outcome of a step that ignores its context.
func (w *walk) stuckResult(i int, d time.Duration, t0 time.Time) result {
	why := "the apply was stopped"
	if d > 0 && w.ctx.Err() == nil {
		why = fmt.Sprintf("its timeout of %s passed", d)
	}
	return result{i: i, stuck: true, dur: time.Since(t0), err: fmt.Errorf(
		"%s did not return %s after %s: it is left running and its changes in place (run `plan rollback` once this apply has ended)",
		w.g.Steps[i].Addr, w.o.Grace, why)}
}

// await waits for a result on done; once ctx ends, for grace more at most.
// It reports false when the grace passed first.
func await(ctx context.Context, grace time.Duration, done <-chan result) (result, bool) {
	select {
	case r := <-done:
		return r, true
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case r := <-done:
		return r, true
	case <-t.C:
		return result{}, false
	}
}

// fuse starts i together with the step u that waits for i alone, when i's
// task can do both as one action. It reports whether it did.
func (w *walk) fuse(i int) bool {
	f, ok := w.tasks[i].(Fuser)
	if !ok {
		return false
	}
	for _, u := range w.g.Users(i) {
		if w.pending[u] != 1 || w.started[u] {
			continue
		}
		fa := f.Fuse(w.tasks[u])
		if fa == nil {
			continue
		}
		if !w.begin(i, nil) {
			return true
		}
		if !w.begin(u, nil) {
			// i is journaled as started and never runs: report it as
			// cancelled, with nothing changed.
			w.results <- result{i: i, err: errors.New("not started: the step fused with it could not be journaled")}
			return true
		}
		w.runFused(i, u, fa)
		return true
	}
	return false
}

// runFused runs a fused pair, reporting i's outcome as soon as it is known
// and u's at the end; either may be stuck.
func (w *walk) runFused(i, u int, fa FusedApply) {
	d := w.timeout(i) + w.timeout(u)
	sctx, cancel := w.stepContext(d)
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		var once sync.Once
		firstDone := func(rec Record, err error) {
			once.Do(func() { first <- result{rec: rec, err: err} })
		}
		rec, err := fa(sctx, w.p.note(i), w.p.note(u), firstDone)
		firstDone(nil, errors.New("the step ended without an outcome"))
		second <- result{rec: rec, err: err}
	}()
	go func() {
		defer cancel()
		t0 := time.Now()
		r, ok := await(sctx, w.o.Grace, first)
		if !ok {
			w.results <- w.stuckResult(i, d, t0)
			w.results <- w.stuckResult(u, d, t0)
			return
		}
		r.i, r.dur, r.err = i, time.Since(t0), w.explain(r.err, sctx, d)
		w.results <- r
		t1 := time.Now()
		r, ok = await(sctx, w.o.Grace, second)
		if !ok {
			w.results <- w.stuckResult(u, d, t1)
			return
		}
		r.i, r.dur, r.err = u, time.Since(t1), w.explain(r.err, sctx, d)
		w.results <- r
	}()
}
