// This file holds the group undo of drains and restores: a rolled-back
// batch's drains put back in one nginx change (nginx.UndoMany) and its
// restores taken out again in one (nginx.ChangeMany), instead of one
// reload per server (executor.GroupUndoer). Anything unusual (a change it
// cannot make as one, a host that no longer resolves) falls back to each
// step's own undo, which knows those cases.
package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// undoTarget is the nginx target and change of a drain's or a restore's
// record, and whether the step puts back (a drain's undo) or takes out (a
// restore's undo); ok is false for any other record.
func undoTarget(t *Task, rec json.RawMessage) (target NginxTarget, ch nginx.Change, putsBack bool, ok bool) {
	if t.Skip != "" {
		return NginxTarget{}, nginx.Change{}, false, false
	}
	switch t.Spec.(type) {
	case *DrainSpec:
		r, err := decodeRecord[drainRecord](rec)
		return r.Nginx, r.Change, true, err == nil
	case *RestoreSpec:
		r, err := decodeRecord[restoreRecord](rec)
		return r.Nginx, r.Change, false, err == nil
	}
	return NginxTarget{}, nginx.Change{}, false, false
}

// JoinsUndo implements executor.GroupUndoer: drains with drains and
// restores with restores of the same nginx upstream, each server once.
func (t *Task) JoinsUndo(own executor.Record, other executor.Undoer, rec executor.Record) bool {
	o, ok := other.(*Task)
	if !ok || o.Env != t.Env {
		return false
	}
	tg, ch, up, ok1 := undoTarget(t, own)
	otg, och, oup, ok2 := undoTarget(o, rec)
	return ok1 && ok2 && tg == otg && up == oup && ch.Server != och.Server
}

// UndoGroup implements executor.GroupUndoer. The drains' changes are
// reverted as one (Undo's rules per line: exact bytes, or the semantic
// inverse); the restores' servers are marked down as one and each waits
// for its requests, as a restore's own undo does. When the one change
// fails, each step's own undo runs (it is idempotent) and says why.
func (t *Task) UndoGroup(ctx context.Context, members []executor.Undoer, recs []executor.Record, notes []func(string)) []error {
	errs := make([]error, len(members))
	fallback := func() []error {
		for k, m := range members {
			errs[k] = m.Undo(ctx, recs[k], notes[k])
		}
		return errs
	}
	target, _, putsBack, _ := undoTarget(t, recs[0])
	tasks := make([]*Task, len(members))
	changes := make([]nginx.Change, len(members))
	for k, m := range members {
		tasks[k] = m.(*Task)
		_, changes[k], _, _ = undoTarget(tasks[k], recs[k])
	}
	b, err := t.Env.Balancer(ctx, target)
	if err != nil {
		return fallback()
	}
	if putsBack {
		if err := nginx.UndoMany(ctx, b, changes); err != nil {
			return fallback()
		}
		for k, c := range changes {
			if !c.Noop {
				notes[k](fmt.Sprintf("%s back in upstream %q (in one change with the rest of its batch)", c.Server, target.Upstream))
			}
		}
		if t.Env.takeStale(target) {
			// See Drain.Undo: nginx may still send requests to an
			// address that is gone.
			if err := nginx.Refresh(ctx, b); err != nil {
				t.Env.markStale(target)
				for k := range errs {
					errs[k] = tasks[k].at(fmt.Errorf("reloading nginx so that it resolves every upstream host again: %w", err), "Undo failed")
				}
				return errs
			}
		}
		return errs
	}
	// Restores: take every server that was put back out again as one.
	var wants []nginx.Change
	var who []int
	for k, c := range changes {
		if !c.Noop {
			wants, who = append(wants, nginx.Change{Op: nginx.OpMarkDown, Server: c.Server}), append(who, k)
		}
	}
	cs, err := nginx.ChangeMany(ctx, b, wants)
	if err != nil {
		return fallback()
	}
	for n, k := range who {
		r, _ := decodeRecord[restoreRecord](recs[k])
		d := parseDurationOr(r.DrainTimeout, 30e9)
		if cs[n].Noop {
			_, err = b.WaitIdle(ctx, cs[n].Server, d)
		} else {
			_, err = b.WaitDrained(ctx, cs[n], d)
		}
		if err != nil {
			errs[k] = tasks[k].at(fmt.Errorf("draining %s: %w", cs[n].Server, err), "Undo failed")
			continue
		}
		notes[k](fmt.Sprintf("%s out of upstream %q again (in one change with the rest of its batch)", cs[n].Server, target.Upstream))
	}
	return errs
}

var _ executor.GroupUndoer = (*Task)(nil)
