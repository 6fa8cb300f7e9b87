// This file holds the commit point and what follows it. Once every step is
// done, the walk journals a commit record before it finalizes anything
// (removes the old containers kept for rollback): before that record,
// recovery undoes the apply; after it, recovery finishes it (Finish). So a
// crash anywhere leaves one of two states, never a mix.
package executor

import (
	"context"
	"fmt"
)

// Finishing is what a Finish did; lists hold Change indexes.
type Finishing struct {
	Finalized     []int
	Failed        map[int]error
	JournalErrors []error
}

// Finish finalizes committed changes, in order, each under o.UndoTimeout,
// and journals each one finalized. Finalizers are idempotent, so Finish
// may run again after a crash part way through.
func Finish(changes []Change, o Options) Finishing {
	o = o.withDefaults()
	res := Finishing{Failed: map[int]error{}}
	for k, c := range changes {
		f, ok := c.Task.(Finalizer)
		if !ok || len(c.Record) == 0 {
			continue // nothing to clean up: no record, or no finalizer
		}
		err := bounded(o.RollbackContext, o.UndoTimeout, o.Grace, func(ctx context.Context) error { return f.Finalize(ctx, c.Record) })
		if err != nil {
			res.Failed[k] = err
			continue
		}
		res.Finalized = append(res.Finalized, k)
		if err := o.Journal.Append(Entry{Kind: KindFinalized, Step: c.Step}); err != nil {
			res.JournalErrors = append(res.JournalErrors, err)
		}
	}
	return res
}

// commit ends a walk in which every step is done: the commit record, then
// the finalizers, then the end record. A commit that cannot be journaled
// is a failure: the apply is rolled back, since without the record a
// recovery would roll it back too.
func (w *walk) commit() *Outcome {
	out := w.out
	if err := w.o.Journal.Append(Entry{Kind: KindCommit}); err != nil {
		w.failed = true
		out.Cause = fmt.Errorf("every step is done, but the commit could not be journaled (%w); rolling back, as a recovery from this journal would", err)
		return w.unwind()
	}
	w.p.event(Event{Type: EventCommit, Message: fmt.Sprintf("all %d steps done; committed", len(w.g.Steps))})
	changes := w.changes()
	f := Finish(changes, w.o)
	for k, err := range f.Failed {
		out.FinalizeErrors[changes[k].Index] = err
	}
	out.JournalErrors = append(out.JournalErrors, f.JournalErrors...)
	if err := w.o.Journal.Append(Entry{Kind: KindEnd, Result: ResultApplied}); err != nil {
		out.JournalErrors = append(out.JournalErrors, err)
	}
	out.Code = ExitApplied
	return out
}
