// This file holds the group hand-off: drains and restores of one nginx
// upstream made together as one membership change (nginx.ChangeMany: for
// the reload backend one edit, one `nginx -t`, one reload), so that a
// rollout batch reloads nginx once for its drains and once for its
// restores together with the next batch's drains (executor.GroupFuser).
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// groupMember is a Spec whose membership change can be made in one
// nginx.ChangeMany with others of the same upstream: drain and restore.
type groupMember interface {
	MembershipChanger
	// groupWant is the change the step makes (Op and Server).
	groupWant() nginx.Change
	// groupRecord is the step's record of ch: its checkpoint before the
	// change, its record after.
	groupRecord(t NginxTarget, ch nginx.Change) json.RawMessage
	// groupFinish is the rest of the step once ch is live: a drain waits
	// for the server's requests, a restore says what it did.
	groupFinish(ctx context.Context, b nginx.Membership, t NginxTarget, ch nginx.Change, note func(string)) (json.RawMessage, error)
	// groupAt places an error of the step at the plan's range.
	groupAt(err error) error
}

// groupOf returns t's Spec as a group member, with its nginx target; ok is
// false when t cannot be in a group (not a membership step, skipped, no
// nginx block).
func groupOf(t executor.Task) (*Task, groupMember, NginxTarget, bool) {
	st, ok := t.(*Task)
	if !ok || st.Skip != "" {
		return nil, nil, NginxTarget{}, false
	}
	g, ok := st.Spec.(groupMember)
	if !ok || g.Membership().Nginx == nil {
		return nil, nil, NginxTarget{}, false
	}
	return st, g, nginxTarget(g.Membership().Nginx), true
}

// Joins implements executor.GroupFuser: drains group with drains and
// restores with restores of the same upstream (a batch's, released
// together by its barrier), and a restore's group takes the drains of the
// same upstream that wait for it alone (the next batch's).
func (t *Task) Joins(other executor.Task, next bool) bool {
	_, g, target, ok := groupOf(t)
	if !ok {
		return false
	}
	o, og, otarget, ok := groupOf(other)
	if !ok || o.Env != t.Env || otarget != target {
		return false
	}
	e, oe := g.Membership().Effect, og.Membership().Effect
	if next {
		return e == PutsBack && oe == TakesOut
	}
	return e == oe && e != Keeps
}

// FuseGroup implements executor.GroupFuser: the changes of first and next
// (each server once) as one nginx.ChangeMany. Each step's checkpoint is
// journaled before the change, as when it runs alone; first's restores
// are done once the change is live, drains once drained. At no moment is
// a server that next takes out the only one serving while first's are
// out: the new workers have first's restores in and next's drains out,
// the old ones the other way round.
func (t *Task) FuseGroup(first, next []executor.Task) executor.GroupApply {
	all := append(append([]executor.Task{}, first...), next...)
	tasks := make([]*Task, len(all))
	specs := make([]groupMember, len(all))
	var target NginxTarget
	index := map[string]int{}
	for k, m := range all {
		st, g, tg, ok := groupOf(m)
		if !ok || (k > 0 && (tg != target || st.Env != t.Env)) {
			return nil
		}
		srv := g.Membership().Server.Value
		if _, dup := index[srv]; dup {
			return nil
		}
		tasks[k], specs[k], target, index[srv] = st, g, tg, k
	}
	env := t.Env
	return func(ctx context.Context, notes []func(string), done func(int, executor.Record, error)) {
		at := func(k int, err error) error {
			return tasks[k].at(specs[k].groupAt(err), "Step failed")
		}
		b, err := env.Balancer(ctx, target)
		if err != nil {
			for k := range all {
				done(k, nil, at(k, fmt.Errorf("not started: %w", err)))
			}
			return
		}
		wants := make([]nginx.Change, len(all))
		for k, s := range specs {
			wants[k] = s.groupWant()
		}
		cctx := nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
			k, ok := index[c.Server]
			if !ok {
				return fmt.Errorf("nginx: a change of %s is in no step of the group", c.Server)
			}
			return record(tasks[k].Checkpoint, specs[k].groupRecord(target, c))
		})
		cs, err := nginx.ChangeMany(cctx, b, wants)
		if err != nil {
			for k := range all {
				if errors.Is(err, nginx.ErrRestoreFailed) && k < len(cs) { // the edits may be in place
					done(k, specs[k].groupRecord(target, cs[k]), at(k, err))
				} else {
					done(k, nil, at(k, fmt.Errorf("not started: the %d membership changes made as one failed, and nothing was changed: %w", len(all), err)))
				}
			}
			return
		}
		// Restores are done now; the drains wait one after the other:
		// with the reload backend they wait for the same worker
		// generation, so the first sees it go and the others find it gone.
		for k := range all {
			rec, err := specs[k].groupFinish(ctx, b, target, cs[k], notes[k])
			if err != nil {
				err = at(k, err)
			}
			done(k, rec, err)
		}
	}
}

// groupWant implements groupMember.
func (s *DrainSpec) groupWant() nginx.Change {
	return nginx.Change{Op: nginx.OpMarkDown, Server: s.Server.Value}
}

// groupRecord implements groupMember.
func (s *DrainSpec) groupRecord(t NginxTarget, ch nginx.Change) json.RawMessage {
	return s.takenOut(t, ch)
}

// groupFinish implements groupMember: wait for the server's requests.
func (s *DrainSpec) groupFinish(ctx context.Context, b nginx.Membership, t NginxTarget, ch nginx.Change, note func(string)) (json.RawMessage, error) {
	return s.wait(ctx, b, t, ch, note)
}

// groupAt implements groupMember.
func (s *DrainSpec) groupAt(err error) error { return dsl.At(err, "Drain failed", s.Server.Range) }

// groupWant implements groupMember.
func (s *RestoreSpec) groupWant() nginx.Change {
	return nginx.Change{Op: nginx.OpRestore, Server: s.Server.Value}
}

// groupRecord implements groupMember.
func (s *RestoreSpec) groupRecord(t NginxTarget, ch nginx.Change) json.RawMessage {
	return mustJSON(restoreRecord{Nginx: t, Change: ch, DrainTimeout: s.Nginx.DrainTimeout.Value.String()})
}

// groupFinish implements groupMember: the server is back; say so.
func (s *RestoreSpec) groupFinish(ctx context.Context, b nginx.Membership, t NginxTarget, ch nginx.Change, note func(string)) (json.RawMessage, error) {
	if ch.Noop {
		note(fmt.Sprintf("%s was not down", s.Server.Value))
	} else {
		note(fmt.Sprintf("%s back in upstream %q (in one change with the rest of its batch)", s.Server.Value, t.Upstream))
	}
	return s.groupRecord(t, ch), nil
}

// groupAt implements groupMember.
func (s *RestoreSpec) groupAt(err error) error { return dsl.At(err, "Restore failed", s.Server.Range) }

var _ executor.GroupFuser = (*Task)(nil)
