// This file runs the drain step: mark the server down, wait for the old
// workers, and its undo.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// drainRecord is what a completed drain leaves for its undo.
type drainRecord struct {
	Nginx  NginxTarget  `json:"nginx"`
	Change nginx.Change `json:"change"`
}

// Undo implements Type: the server back in the upstream as it was.
func (Drain) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	rec, err := decodeRecord[drainRecord](raw)
	if err != nil {
		return err
	}
	b, err := env.Balancer(ctx, rec.Nginx)
	if err != nil {
		return err
	}
	if !rec.Change.Noop {
		if err := b.Undo(ctx, rec.Change); err != nil {
			return fmt.Errorf("putting %s back into upstream %q: %w", rec.Change.Server, rec.Nginx.Upstream, err)
		}
		note(fmt.Sprintf("%s back in upstream %q", rec.Change.Server, rec.Nginx.Upstream))
	}
	if env.takeStale(rec.Nginx) {
		// See the restore's undo: nginx may still send requests to
		// an address that is gone.
		if err := nginx.Refresh(ctx, b); err != nil {
			env.markStale(rec.Nginx)
			return fmt.Errorf("reloading nginx so that it resolves %s again: %w", rec.Change.Server, err)
		}
		if _, reloads := b.(nginx.Refresher); reloads {
			note("nginx reloaded: it resolves every upstream host again")
		}
	}
	return nil
}

// Preflight implements Spec; the nginx checks are grouped per upstream
// by PreflightPlan, so a drain has nothing of its own to check.
func (s *DrainSpec) Preflight(ctx context.Context, env *Env) []error { return nil }

// Apply implements Spec.
func (s *DrainSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Drain failed", s.Server.Range)
}

func (s *DrainSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	t := nginxTarget(s.Nginx)
	b, err := env.Balancer(ctx, t)
	if err != nil {
		return nil, err
	}
	ch, err := b.MarkDown(nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
		return checkpoint(ctx, mustJSON(drainRecord{Nginx: t, Change: c}))
	}), s.Server.Value)
	if err != nil {
		if errors.Is(err, nginx.ErrRestoreFailed) {
			return mustJSON(drainRecord{Nginx: t, Change: ch}), err // the edit may be in place
		}
		return nil, err
	}
	return s.wait(ctx, b, t, ch, note)
}

// takenOut is the drain's record of change ch (handoffTaker).
func (s *DrainSpec) takenOut(t NginxTarget, ch nginx.Change) json.RawMessage {
	return mustJSON(drainRecord{Nginx: t, Change: ch})
}

// wait is the rest of a drain once the server is marked down (ch): wait
// for the requests the old workers still hold.
func (s *DrainSpec) wait(ctx context.Context, b nginx.Membership, t NginxTarget, ch nginx.Change, note func(string)) (json.RawMessage, error) {
	rec := mustJSON(drainRecord{Nginx: t, Change: ch})
	if ch.Noop {
		// Already down (by hand, or by an apply that died before its
		// drain was over): requests to it may still be on the workers
		// that are shutting down.
		if _, err := b.WaitIdle(ctx, s.Server.Value, s.DrainTimeout.Value); err != nil {
			return nil, fmt.Errorf("waiting for %s's requests: %w", s.Server.Value, err)
		}
		note(fmt.Sprintf("%s was already down", s.Server.Value))
		return rec, nil
	}
	rep, err := b.WaitDrained(ctx, ch, s.DrainTimeout.Value)
	if err != nil {
		// Leave nothing half-done: put the server back before failing.
		if uerr := b.Undo(context.WithoutCancel(ctx), ch); uerr != nil {
			return rec, fmt.Errorf("%w; and putting %s back failed: %v (it is still marked down)", err, s.Server.Value, uerr)
		}
		return nil, fmt.Errorf("waiting for %s to drain: %w (it was put back into the upstream)", s.Server.Value, err)
	}
	if rep.TimedOut && rep.InFlight > 0 {
		// The reload-free backend counts requests, not workers.
		note(fmt.Sprintf("warning: drain_timeout %s reached; %d request(s) to %s still in flight. Long-lived requests (WebSocket, streaming) that are still open are cut when it is replaced",
			s.DrainTimeout.Value, rep.InFlight, s.Server.Value))
	} else if rep.TimedOut {
		var pids []string
		for _, p := range rep.Remaining {
			pids = append(pids, fmt.Sprint(p.PID))
		}
		held := "connections"
		if len(rep.Conns) > 0 {
			held = nginx.Summary(rep.Conns)
		}
		note(fmt.Sprintf("warning: drain_timeout %s reached; %d old nginx worker(s) (pid %s) still hold %s. Long-lived requests (WebSocket, streaming) to %s that are still open are cut when it is replaced",
			s.DrainTimeout.Value, len(rep.Remaining), strings.Join(pids, ", "), held, s.Server.Value))
	} else {
		note(fmt.Sprintf("drained %s in %s", s.Server.Value, rep.Took.Round(1e6)))
	}
	return rec, nil
}
