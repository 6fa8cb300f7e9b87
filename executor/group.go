// This file holds group fusion: several steps made as one action (the
// drains of a rollout batch as one nginx edit and one reload; a batch's
// restores with the next batch's drains as one), while each step keeps its
// own journal records, status, progress, undo and finalize.
package executor

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// GroupFuser is implemented by Tasks that can make their change together
// with that of other tasks as one action. A rollout batch of b targets then
// reloads nginx once for its drains and once for its restores (fused with
// the next batch's drains) instead of once per target: every reload resets
// some keep-alive clients and costs at least 100 ms, serialized.
//
// The walk asks the first ready task that is a GroupFuser which of the
// other ready tasks (its peers) and which of the steps waiting for nothing
// but that group (next) may join; a step waiting for anything else, such
// as a gate after a batch's restores, is never offered, so a gate always
// sees the restores live before the next drains start.
type GroupFuser interface {
	// Joins reports whether other can be in this task's group: as a peer
	// ready at the same moment (next false), or as a step that waits for
	// the group alone and starts with it (next true).
	Joins(other Task, next bool) bool
	// FuseGroup returns the action that runs first (this task, then the
	// peers Joins accepted) and next (the accepted steps waiting for them
	// alone), or nil when it cannot run them as one: the walk then runs
	// them as usual.
	FuseGroup(first, next []Task) GroupApply
}

// GroupApply runs a fused group. Members are numbered as FuseGroup got
// them: first, then next; notes[k] reports member k's progress. It calls
// done(k, rec, err) once per member as soon as that member's outcome is
// known (a restore's once the reload is live, a drain's once drained), and
// returns only when every member has one: a member left without one fails.
// When the shared change fails, every member fails with nothing changed,
// or with its record when the change may be in place (like Task.Apply).
type GroupApply func(ctx context.Context, notes []func(string), done func(k int, rec Record, err error))

// fuseGroup starts i with the ready steps and the waiting steps its task
// can make as one action (see GroupFuser). It reports whether it did. A
// group of i alone or of i and one step waiting for it is left to the
// pairwise fusion (fuse) and the plain start.
//
// Parallelism: a group takes one slot, however many steps it holds. It is
// one edit and one reload of one nginx, and what -parallelism bounds is
// how many such actions run at once (see DefaultParallelism); counting
// each member would split a batch into several reloads again.
func (w *walk) fuseGroup(i int) bool {
	gf, ok := w.tasks[i].(GroupFuser)
	if !ok {
		return false
	}
	first := []int{i}
	in := map[int]bool{i: true}
	for _, j := range w.ready {
		if j != i && !w.started[j] && gf.Joins(w.tasks[j], false) {
			first = append(first, j)
			in[j] = true
		}
	}
	var next []int
	seen := map[int]bool{}
	for _, f := range first {
		for _, u := range w.g.Users(f) {
			if seen[u] || in[u] || w.started[u] {
				continue
			}
			seen[u] = true
			n := 0
			for _, d := range w.g.Deps(u) {
				if in[d] {
					n++
				}
			}
			if n == w.pending[u] && gf.Joins(w.tasks[u], true) {
				next = append(next, u)
			}
		}
	}
	sort.Ints(next)
	if len(first) == 1 && len(next) <= 1 {
		return false
	}
	ts := make([]Task, 0, len(first)+len(next))
	for _, k := range append(append([]int{}, first...), next...) {
		ts = append(ts, w.tasks[k])
	}
	ga := gf.FuseGroup(ts[:len(first)], ts[len(first):])
	if ga == nil {
		return false
	}
	w.ready = removeAll(w.ready, in)
	members := append(first, next...)
	slot := new(int)
	for k, m := range members {
		if !w.begin(m, slot) {
			// The ones journaled as started never run: each is reported
			// cancelled, with nothing changed.
			for _, s := range members[:k] {
				w.results <- result{i: s, err: errors.New("not started: a step of its group could not be journaled")}
			}
			return true
		}
	}
	w.runGroup(members, len(first), ga)
	return true
}

// removeAll returns ready without the steps in drop, in the same order.
func removeAll(ready []int, drop map[int]bool) []int {
	out := ready[:0]
	for _, j := range ready {
		if !drop[j] {
			out = append(out, j)
		}
	}
	return out
}

// runGroup runs a fused group, reporting each member's outcome once it and
// those of the members before it are known; any may be stuck. The group's deadline is the longest
// timeout of its first steps plus the longest of its next ones: the
// members of each part run side by side, the next after the first's change.
func (w *walk) runGroup(members []int, nFirst int, ga GroupApply) {
	var d1, d2 time.Duration
	for k, m := range members {
		if k < nFirst {
			d1 = max(d1, w.timeout(m))
		} else {
			d2 = max(d2, w.timeout(m))
		}
	}
	d := d1 + d2
	sctx, cancel := w.stepContext(d)
	outs := make([]chan result, len(members))
	onces := make([]sync.Once, len(members))
	notes := make([]func(string), len(members))
	for k, m := range members {
		outs[k] = make(chan result, 1)
		notes[k] = w.p.note(m)
	}
	done := func(k int, rec Record, err error) {
		if k >= 0 && k < len(members) {
			onces[k].Do(func() { outs[k] <- result{rec: rec, err: err} })
		}
	}
	go func() {
		ga(sctx, notes, done)
		for k := range members {
			done(k, nil, errors.New("the step ended without an outcome"))
		}
	}()
	// Outcomes are taken in member order, so the journal and the
	// completion order (the undo order) always have a group's first steps
	// before its next ones. Once one member is stuck, the ones after it
	// that have no outcome yet are stuck too (the grace has passed).
	go func() {
		defer cancel()
		t0 := time.Now()
		gaveUp := false
		for k, m := range members {
			var r result
			ok := false
			if !gaveUp {
				r, ok = await(sctx, w.o.Grace, outs[k])
			} else {
				select {
				case r = <-outs[k]:
					ok = true
				default:
				}
			}
			if !ok {
				gaveUp = true
				w.results <- w.stuckResult(m, d, t0)
				continue
			}
			r.i, r.dur, r.err = m, time.Since(t0), w.explain(r.err, sctx, d)
			w.results <- r
		}
	}()
}
