// This file holds the restore's Fuser: a restore and the drain after it,
// as one nginx hand-off.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Fuse implements executor.Fuser for any step whose Spec is a Fuser.
func (t *Task) Fuse(next executor.Task) executor.FusedApply {
	n, ok := next.(*Task)
	if !ok || t.Skip != "" || n.Skip != "" {
		return nil
	}
	f, ok := t.Spec.(Fuser)
	if !ok {
		return nil
	}
	return f.Fuse(t.Env, n.Spec, t.Checkpoint, n.Checkpoint)
}

// handoffTaker is a step that takes a server out and can do it in the
// reload of a hand-off (drain): it records the change and waits for the
// server's requests.
type handoffTaker interface {
	MembershipChanger
	takenOut(t NginxTarget, ch nginx.Change) json.RawMessage
	wait(ctx context.Context, b nginx.Membership, t NginxTarget, ch nginx.Change, note func(string)) (json.RawMessage, error)
}

// Fuse implements Fuser: a restore followed by a drain of another server
// of the same upstream, that waits for nothing else, run as one hand-off
// (one edit, one `nginx -t`, one reload; see nginx.Handoff). A rolling
// update of N servers then reloads nginx N+1 times instead of 2N, and each
// reload costs a few keep-alive clients a reset. At no moment are both
// servers out: the new workers have the restored one in and the drained
// one out, the old workers the other way round.
func (r *RestoreSpec) Fuse(env *Env, next Spec, first, second func(json.RawMessage) error) executor.FusedApply {
	d, ok := next.(handoffTaker)
	if !ok {
		return nil
	}
	m := d.Membership()
	if m.Effect != TakesOut || r.Nginx == nil || m.Nginx == nil || r.Server.Value == m.Server.Value {
		return nil
	}
	target := nginxTarget(r.Nginx)
	if nginxTarget(m.Nginx) != target {
		return nil
	}
	out := m.Server.Value
	return func(ctx context.Context, noteRestore, noteDrain func(string), restored func(executor.Record, error)) (executor.Record, error) {
		b, err := env.Balancer(ctx, target)
		if err != nil {
			restored(nil, err)
			return nil, fmt.Errorf("not started: %w", err)
		}
		drainTimeout := r.Nginx.DrainTimeout.Value.String()
		cctx := nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
			if c.Server == r.Server.Value {
				return record(first, mustJSON(restoreRecord{Nginx: target, Change: c, DrainTimeout: drainTimeout}))
			}
			return record(second, d.takenOut(target, c))
		})
		in, ch, err := nginx.Handoff(cctx, b, r.Server.Value, out)
		if err != nil {
			if errors.Is(err, nginx.ErrRestoreFailed) { // the edits may be in place
				restored(mustJSON(restoreRecord{Nginx: target, Change: in, DrainTimeout: drainTimeout}), err)
				return d.takenOut(target, ch), err
			}
			restored(nil, err)
			return nil, fmt.Errorf("not started: putting %s back together with taking %s out failed, and nothing was changed", r.Server.Value, out)
		}
		if in.Noop {
			noteRestore(fmt.Sprintf("%s was not down", r.Server.Value))
		} else if in.Backend == nginx.BackendDynamic {
			noteRestore(fmt.Sprintf("%s back in upstream %q (in the same membership change that takes %s out; no reload)", r.Server.Value, target.Upstream, out))
		} else {
			noteRestore(fmt.Sprintf("%s back in upstream %q (in the same reload that takes %s out)", r.Server.Value, target.Upstream, out))
		}
		restored(mustJSON(restoreRecord{Nginx: target, Change: in, DrainTimeout: drainTimeout}), nil)
		return d.wait(ctx, b, target, ch, noteDrain)
	}
}

// record calls a Task's Checkpoint, if any.
func record(fn func(json.RawMessage) error, rec json.RawMessage) error {
	if fn == nil {
		return nil
	}
	if err := fn(rec); err != nil {
		return fmt.Errorf("recording the step's checkpoint in the journal: %w", err)
	}
	return nil
}
