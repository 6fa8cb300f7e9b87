package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Fuse implements executor.Fuser: a restore followed by a drain of another
// server of the same upstream, that waits for nothing else, run as one
// hand-off (one edit, one `nginx -t`, one reload; see nginx.Handoff). A
// rolling update of N servers then reloads nginx N+1 times instead of 2N,
// and each reload costs a few keep-alive clients a reset. At no moment are
// both servers out: the new workers have the restored one in and the
// drained one out, the old workers the other way round.
func (t *Task) Fuse(next executor.Task) executor.FusedApply {
	n, ok := next.(*Task)
	if !ok || t.Skip != "" || n.Skip != "" {
		return nil
	}
	r, ok1 := t.Spec.(*RestoreSpec)
	d, ok2 := n.Spec.(*DrainSpec)
	if !ok1 || !ok2 || r.Nginx == nil || d.Nginx == nil || r.Server.Value == d.Server.Value {
		return nil
	}
	target := nginxTarget(r.Nginx)
	if nginxTarget(d.Nginx) != target {
		return nil
	}
	return func(ctx context.Context, noteRestore, noteDrain func(string), restored func(executor.Record, error)) (executor.Record, error) {
		b, err := t.Env.Balancer(target)
		if err != nil {
			restored(nil, err)
			return nil, fmt.Errorf("not started: %w", err)
		}
		drainTimeout := r.Nginx.DrainTimeout.Value.String()
		cctx := nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
			if c.Server == r.Server.Value {
				return record(t.Checkpoint, mustJSON(restoreRecord{Nginx: target, Change: c, DrainTimeout: drainTimeout}))
			}
			return record(n.Checkpoint, mustJSON(drainRecord{Nginx: target, Change: c}))
		})
		in, out, err := nginx.Handoff(cctx, b, r.Server.Value, d.Server.Value)
		if err != nil {
			if errors.Is(err, nginx.ErrRestoreFailed) { // the edits may be in place
				restored(mustJSON(restoreRecord{Nginx: target, Change: in, DrainTimeout: drainTimeout}), err)
				return mustJSON(drainRecord{Nginx: target, Change: out}), err
			}
			restored(nil, err)
			return nil, fmt.Errorf("not started: putting %s back together with taking %s out failed, and nothing was changed", r.Server.Value, d.Server.Value)
		}
		if in.Noop {
			noteRestore(fmt.Sprintf("%s was not down", r.Server.Value))
		} else {
			noteRestore(fmt.Sprintf("%s back in upstream %q (in the same reload that takes %s out)", r.Server.Value, target.Upstream, d.Server.Value))
		}
		restored(mustJSON(restoreRecord{Nginx: target, Change: in, DrainTimeout: drainTimeout}), nil)
		return d.wait(ctx, b, target, out, noteDrain)
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
