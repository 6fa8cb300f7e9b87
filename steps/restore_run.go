// This file runs the restore step: the host resolves, the server goes back
// in, and its undo (drain again, waiting for the workers).
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// restoreRecord is what a completed restore leaves for its undo.
type restoreRecord struct {
	Nginx  NginxTarget  `json:"nginx"`
	Change nginx.Change `json:"change"`
	// DrainTimeout bounds the re-drain of an undo.
	DrainTimeout string `json:"drain_timeout"`
}

// Undo implements Type: the server out of the upstream again, drained.
func (Restore) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	rec, err := decodeRecord[restoreRecord](raw)
	if err != nil {
		return err
	}
	if rec.Change.Noop {
		return nil
	}
	b, err := env.Balancer(ctx, rec.Nginx)
	if err != nil {
		return err
	}
	// Undoing a restore takes the server out again, and waits for its
	// requests to finish before the deploy's undo removes it.
	ch, err := b.MarkDown(ctx, rec.Change.Server)
	if err != nil {
		if errors.Is(b.Resolves(ctx, rec.Change.Server), nginx.ErrUnresolvable) {
			// The new container died after it was put back: nginx
			// cannot load any config naming it (so no reload can take
			// it out), and it has no request to finish. Leave the line;
			// once the deploy's undo brings the old container back,
			// the drain's undo finds the line as it was before the
			// apply and reloads, so nginx resolves the host again.
			env.markStale(rec.Nginx)
			note(fmt.Sprintf("%s no longer resolves (its container stopped): nothing to drain; nginx is reloaded once the old container is back", rec.Change.Server))
			return nil
		}
		return fmt.Errorf("taking %s out of upstream %q again: %w", rec.Change.Server, rec.Nginx.Upstream, err)
	}
	d := parseDurationOr(rec.DrainTimeout, 30e9)
	if ch.Noop {
		// Already down: an earlier undo marked it and was cut short
		// (a second Ctrl-C, a killed process) before its requests
		// were done. They are on the workers still shutting down.
		_, err = b.WaitIdle(ctx, rec.Change.Server, d)
	} else {
		_, err = b.WaitDrained(ctx, ch, d)
	}
	if err != nil {
		return fmt.Errorf("draining %s: %w", rec.Change.Server, err)
	}
	note(fmt.Sprintf("%s out of upstream %q again", rec.Change.Server, rec.Nginx.Upstream))
	return nil
}

// Preflight implements Spec; see DrainSpec.Preflight.
func (s *RestoreSpec) Preflight(ctx context.Context, env *Env) []error { return nil }

// Apply implements Spec.
func (s *RestoreSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Restore failed", s.Server.Range)
}

func (s *RestoreSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	t := nginxTarget(s.Nginx)
	b, err := env.Balancer(ctx, t)
	if err != nil {
		return nil, err
	}
	drain := s.Nginx.DrainTimeout.Value.String()
	ch, err := b.Restore(nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
		return checkpoint(ctx, mustJSON(restoreRecord{Nginx: t, Change: c, DrainTimeout: drain}))
	}), s.Server.Value)
	if err != nil {
		if errors.Is(err, nginx.ErrRestoreFailed) {
			return mustJSON(restoreRecord{Nginx: t, Change: ch, DrainTimeout: drain}), err // the edit may be in place
		}
		return nil, err
	}
	if ch.Noop {
		note(fmt.Sprintf("%s was not down", s.Server.Value))
	} else {
		note(fmt.Sprintf("%s back in upstream %q", s.Server.Value, t.Upstream))
	}
	return mustJSON(restoreRecord{Nginx: t, Change: ch, DrainTimeout: drain}), nil
}
