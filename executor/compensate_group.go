// This file holds group compensation: consecutive changes (in undo order)
// that one action can undo together, as a batch's drains put back in one
// nginx reload, each still journaled and reported as its own step.
package executor

import (
	"context"
	"errors"
)

// GroupUndoer is implemented by Undoers that can undo several changes as
// one action: rolling back a rollout batch then costs one reload of nginx
// for its drains and one for its restores instead of one per server.
type GroupUndoer interface {
	// JoinsUndo reports whether other's change (rec) can be undone in the
	// same action as this one's (own).
	JoinsUndo(own Record, other Undoer, rec Record) bool
	// UndoGroup undoes recs[k] for members[k] (members[0] is this one) as
	// one action, and returns one error per member (nil: undone). notes[k]
	// reports member k's progress.
	UndoGroup(ctx context.Context, members []Undoer, recs []Record, notes []func(string)) []error
}

// undoGroup returns the changes, from k down, that changes[k]'s undoer
// takes into one group undo: consecutive in undo order, completed (not
// interrupted), with a record. Fewer than two: no group.
func undoGroup(changes []Change, k int) []int {
	c := changes[k]
	gu, ok := c.Task.(GroupUndoer)
	if !ok || c.Interrupted || len(c.Record) == 0 {
		return nil
	}
	g := []int{k}
	for j := k - 1; j >= 0; j-- {
		o := changes[j]
		if o.Interrupted || len(o.Record) == 0 || !gu.JoinsUndo(c.Record, o.Task, o.Record) {
			break
		}
		g = append(g, j)
	}
	return g
}

// compensateGroup undoes the changes g (indexes into changes, in undo
// order) as one action under one deadline, journaling and reporting each.
func compensateGroup(ctx context.Context, changes []Change, g []int, o Options, p *progress, res *Compensation) {
	members := make([]Undoer, len(g))
	recs := make([]Record, len(g))
	notes := make([]func(string), len(g))
	for n, k := range g {
		members[n], recs[n], notes[n] = changes[k].Task, changes[k].Record, p.note(changes[k].Index)
		res.journal(o.Journal, Entry{Kind: KindUndo, Step: changes[k].Step})
	}
	var errs []error
	err := bounded(ctx, o.UndoTimeout, o.Grace, func(ctx context.Context) error {
		errs = members[0].(GroupUndoer).UndoGroup(ctx, members, recs, notes)
		return nil
	})
	for n, k := range g {
		e := err // the group did not return: every member failed with it
		switch {
		case e != nil:
		case n < len(errs):
			e = errs[n]
		default:
			e = errors.New("the group undo ended without an outcome for this step")
		}
		c := changes[k]
		if e != nil {
			res.Failed[k] = e
			res.Left = append(res.Left, k)
			res.journal(o.Journal, Entry{Kind: KindUndoFailed, Step: c.Step, Error: e.Error()})
			p.status(c.Index, RollbackFailed, e.Error())
			continue
		}
		res.Undone = append(res.Undone, k)
		res.journal(o.Journal, Entry{Kind: KindUndone, Step: c.Step})
		p.status(c.Index, RolledBack, "")
	}
}
