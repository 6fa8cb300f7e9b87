// This file holds the group undo of drains and restores: a rolled-back
// batch's drains put back in one nginx change (nginx.UndoMany) and its
// restores taken out again in one (nginx.ChangeMany), instead of one
// reload per server (executor.GroupUndoer). Apply's own rollback groups
// through Task; `plan rollback` after a crash groups the journal's records
// the same way (JoinsUndo, UndoGroup), so recovery costs the reloads the
// apply's rollback would have. Anything unusual (a change it cannot make
// as one, a host that no longer resolves) falls back to each step's own
// undo, which knows those cases.
package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// membershipUndoer is the capability of a step type whose undo is one
// membership change of one nginx upstream, which a group can join with
// others' into one edit and one reload.
type membershipUndoer interface {
	// undoTarget decodes a record: its nginx target and change, and
	// whether undoing it puts the server back (a drain) or takes it out
	// again (a restore); ok is false for a record it cannot read.
	undoTarget(rec json.RawMessage) (target NginxTarget, ch nginx.Change, putsBack bool, ok bool)
}

func (Drain) undoTarget(rec json.RawMessage) (NginxTarget, nginx.Change, bool, bool) {
	r, err := decodeRecord[drainRecord](rec)
	return r.Nginx, r.Change, true, err == nil
}

func (Restore) undoTarget(rec json.RawMessage) (NginxTarget, nginx.Change, bool, bool) {
	r, err := decodeRecord[restoreRecord](rec)
	return r.Nginx, r.Change, false, err == nil
}

// undoTargetOf asks the registered type typ for a record's membership
// change; ok is false for a type without that capability.
func undoTargetOf(env *Env, typ string, rec json.RawMessage) (target NginxTarget, ch nginx.Change, putsBack bool, ok bool) {
	t, err := env.typ(typ)
	if err != nil {
		return NginxTarget{}, nginx.Change{}, false, false
	}
	m, isM := t.(membershipUndoer)
	if !isM {
		return NginxTarget{}, nginx.Change{}, false, false
	}
	return m.undoTarget(rec)
}

// JoinsUndo says whether the change of a step of type otherTyp (rec) can
// be undone in one action with that of a step of type typ (own): drains
// with drains and restores with restores of the same nginx upstream, each
// server once. `plan rollback` asks it of journal records.
func JoinsUndo(env *Env, typ string, own json.RawMessage, otherTyp string, rec json.RawMessage) bool {
	tg, ch, up, ok1 := undoTargetOf(env, typ, own)
	otg, och, oup, ok2 := undoTargetOf(env, otherTyp, rec)
	return ok1 && ok2 && tg == otg && up == oup && ch.Server != och.Server
}

// JoinsUndo implements executor.GroupUndoer.
func (t *Task) JoinsUndo(own executor.Record, other executor.Undoer, rec executor.Record) bool {
	o, ok := other.(*Task)
	if !ok || o.Env != t.Env || t.Skip != "" || o.Skip != "" {
		return false
	}
	return JoinsUndo(t.Env, t.Type, own, o.Type, rec)
}

// UndoGroup undoes, as one action, journal records that JoinsUndo joined:
// recs[k] of a step of type typs[k]. It returns one error per record (nil:
// undone); notes[k] reports record k's progress. `plan rollback` calls it.
func UndoGroup(ctx context.Context, env *Env, typs []string, recs []executor.Record, notes []func(string)) []error {
	return undoGroup(ctx, env, typs, recs, notes, func(k int) error {
		return Undo(ctx, env, typs[k], recs[k], notes[k])
	}, func(_ int, err error, _ string) error { return err })
}

// UndoGroup implements executor.GroupUndoer. When the one change fails,
// each step's own undo runs (it is idempotent) and says why.
func (t *Task) UndoGroup(ctx context.Context, members []executor.Undoer, recs []executor.Record, notes []func(string)) []error {
	tasks := make([]*Task, len(members))
	typs := make([]string, len(members))
	for k, m := range members {
		tasks[k] = m.(*Task)
		typs[k] = tasks[k].Type
	}
	return undoGroup(ctx, t.Env, typs, recs, notes, func(k int) error {
		return members[k].Undo(ctx, recs[k], notes[k])
	}, func(k int, err error, summary string) error { return tasks[k].at(err, summary) })
}

// undoGroup is UndoGroup for both callers: undo is member k's own undo
// (the fallback), wrap places member k's error. The drains' changes are
// reverted as one (Undo's rules per line: exact bytes, or the semantic
// inverse); the restores' servers are marked down as one and each waits
// for its requests, as a restore's own undo does.
func undoGroup(ctx context.Context, env *Env, typs []string, recs []executor.Record, notes []func(string),
	undo func(k int) error, wrap func(k int, err error, summary string) error) []error {
	errs := make([]error, len(recs))
	fallback := func() []error {
		for k := range recs {
			errs[k] = undo(k)
		}
		return errs
	}
	target, _, putsBack, _ := undoTargetOf(env, typs[0], recs[0])
	changes := make([]nginx.Change, len(recs))
	for k := range recs {
		_, changes[k], _, _ = undoTargetOf(env, typs[k], recs[k])
	}
	b, err := env.Balancer(ctx, target)
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
		if env.takeStale(target) {
			// See Drain.Undo: nginx may still send requests to an
			// address that is gone.
			if err := nginx.Refresh(ctx, b); err != nil {
				env.markStale(target)
				for k := range errs {
					errs[k] = wrap(k, fmt.Errorf("reloading nginx so that it resolves every upstream host again: %w", err), "Undo failed")
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
			errs[k] = wrap(k, fmt.Errorf("draining %s: %w", cs[n].Server, err), "Undo failed")
			continue
		}
		notes[k](fmt.Sprintf("%s out of upstream %q again (in one change with the rest of its batch)", cs[n].Server, target.Upstream))
	}
	return errs
}

var _ executor.GroupUndoer = (*Task)(nil)
