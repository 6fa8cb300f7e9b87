// This file holds compensation: undoing changes newest first, each under
// its own deadline, journaled, with progress. It is the one rollback: a
// failed walk (unwind) and `plan rollback`, which replays a journal, both
// run Compensate.
package executor

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Change is one change to compensate (or, after a commit, to finalize): a
// step completed by this walk, or one a journal says is still in place.
type Change struct {
	// Step is the step's address; Index its position for progress and
	// results (the step index in a walk).
	Step  string
	Index int
	// Task undoes the change. To be finalized it must be a Finalizer too.
	Task   Undoer
	Record Record
	// Interrupted marks a step whose process died mid-step: Record is its
	// last checkpoint, and without one it changed nothing.
	Interrupted bool
}

// Compensation is what a Compensate did; every list holds Change indexes,
// in the order the changes were met.
type Compensation struct {
	Undone []int
	// Unchanged are interrupted steps that had changed nothing yet.
	Unchanged []int
	Failed    map[int]error
	// Left are the changes still in place: failed, or not attempted
	// because ctx ended (the second Ctrl-C). Steps with nothing to undo
	// (Reversible false) are not listed.
	Left []int
	// JournalErrors are undo records that could not be written. The undo
	// went ahead (undos are idempotent: a journal that says less was undone
	// than was only makes a later rollback redo one).
	JournalErrors []error
}

// Complete reports whether every change was undone.
func (c Compensation) Complete() bool { return len(c.Failed) == 0 && len(c.Left) == 0 }

// Compensate undoes changes in reverse order (the list is in the order the
// changes were made), each under a fresh context bounded by o.UndoTimeout
// (and o.Grace past it for an undo that ignores its context), journaling
// each in o.Journal and reporting progress to o.Events. Cancelling ctx
// stops before the next undo.
func Compensate(ctx context.Context, changes []Change, o Options) Compensation {
	o = o.withDefaults()
	addr := map[int]string{}
	for _, c := range changes {
		addr[c.Index] = c.Step
	}
	p := &progress{events: o.Events, addr: func(i int) string { return addr[i] }}
	return compensate(ctx, changes, o, p)
}

func compensate(ctx context.Context, changes []Change, o Options, p *progress) Compensation {
	res := Compensation{Failed: map[int]error{}}
	for k := len(changes) - 1; k >= 0; k-- {
		c := changes[k]
		if ctx.Err() != nil {
			// Second interrupt: stop here and say what is left.
			for j := k; j >= 0; j-- {
				if reversible(changes[j].Task, changes[j].Record) {
					res.Left = append(res.Left, j)
				}
			}
			break
		}
		if c.Interrupted && len(c.Record) == 0 {
			res.Unchanged = append(res.Unchanged, k)
			res.journal(o.Journal, Entry{Kind: KindUndone, Step: c.Step})
			p.status(c.Index, RolledBack, "nothing to undo: interrupted before it changed anything")
			continue
		}
		if len(c.Record) == 0 {
			// A completed step that left no record changed nothing (a
			// health check): an undo gets only the record, so there is
			// nothing it could do.
			res.Undone = append(res.Undone, k)
			res.journal(o.Journal, Entry{Kind: KindUndone, Step: c.Step})
			p.status(c.Index, RolledBack, "")
			continue
		}
		if g := undoGroup(changes, k); len(g) > 1 {
			compensateGroup(ctx, changes, g, o, p, &res)
			k -= len(g) - 1
			continue
		}
		res.journal(o.Journal, Entry{Kind: KindUndo, Step: c.Step})
		if err := undo(ctx, c, o, p.note(c.Index)); err != nil {
			res.Failed[k] = err
			res.Left = append(res.Left, k)
			res.journal(o.Journal, Entry{Kind: KindUndoFailed, Step: c.Step, Error: err.Error()})
			p.status(c.Index, RollbackFailed, err.Error())
			continue
		}
		res.Undone = append(res.Undone, k)
		res.journal(o.Journal, Entry{Kind: KindUndone, Step: c.Step})
		p.status(c.Index, RolledBack, "")
	}
	sort.Ints(res.Left)
	return res
}

func (c *Compensation) journal(j *Journal, e Entry) {
	if err := j.Append(e); err != nil {
		c.JournalErrors = append(c.JournalErrors, err)
	}
}

// undo runs one change's undo under its own deadline; an undo that
// ignores its context is given up on after the grace.
func undo(parent context.Context, c Change, o Options, note func(string)) error {
	return bounded(parent, o.UndoTimeout, o.Grace, func(ctx context.Context) error {
		return c.Task.Undo(ctx, c.Record, note)
	})
}

// bounded runs fn under a context with deadline d, and waits for it at
// most grace past the end of that context.
func bounded(parent context.Context, d, grace time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- result{err: fn(ctx)} }()
	r, ok := await(ctx, grace, done)
	if !ok {
		return fmt.Errorf("it did not return %s after its timeout of %s or cancellation: it ignores its context; what it changed may be in place", grace, d)
	}
	return r.err
}

// changes are the walk's completed steps, in completion order.
func (w *walk) changes() []Change {
	out := make([]Change, 0, len(w.completed))
	for _, i := range w.completed {
		out = append(out, Change{Step: w.g.Steps[i].Addr, Index: i, Task: w.tasks[i], Record: w.records[i]})
	}
	return out
}

// unwind ends a failed walk: nothing to do when nothing changed, the list
// of what is left with on_failure = "stop", the compensation otherwise.
func (w *walk) unwind() *Outcome {
	out := w.out
	out.Left = append(out.Left, w.stuck...)
	end := func(result string) *Outcome {
		if err := w.o.Journal.Append(Entry{Kind: KindEnd, Result: result}); err != nil {
			out.JournalErrors = append(out.JournalErrors, err)
		}
		sort.Ints(out.Left)
		return out
	}
	if len(w.completed) == 0 && len(w.stuck) == 0 {
		out.Code = ExitNoChange
		return end("failed, nothing changed")
	}
	out.Code = ExitRollbackPartial
	if !w.o.Rollback {
		for _, i := range w.completed {
			if reversible(w.tasks[i], w.records[i]) {
				out.Left = append(out.Left, i)
			}
		}
		return end("failed, stopped without rollback")
	}
	w.p.event(Event{Type: EventRollback, Message: fmt.Sprintf("rolling back %d completed steps", len(w.completed))})
	changes := w.changes()
	c := compensate(w.o.RollbackContext, changes, w.o, w.p)
	for k, err := range c.Failed {
		out.UndoErrors[changes[k].Index] = err
	}
	for _, k := range c.Left {
		out.Left = append(out.Left, changes[k].Index)
	}
	out.JournalErrors = append(out.JournalErrors, c.JournalErrors...)
	if c.Complete() && len(w.stuck) == 0 && len(c.JournalErrors) == 0 {
		out.Code = ExitRolledBack
		return end("failed, rolled back")
	}
	return end("failed, rollback incomplete")
}
