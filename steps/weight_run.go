// This file runs the weight step and its undo.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// weightRecord is what a completed weight change leaves for its undo.
type weightRecord struct {
	Nginx  NginxTarget  `json:"nginx"`
	Change nginx.Change `json:"change"`
}

// Undo implements Type: the server's weight as it was.
func (Weight) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	rec, err := decodeRecord[weightRecord](raw)
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
	if err := b.Undo(ctx, rec.Change); err != nil {
		return fmt.Errorf("restoring the weight of %s in upstream %q: %w", rec.Change.Server, rec.Nginx.Upstream, err)
	}
	note(fmt.Sprintf("%s weight restored", rec.Change.Server))
	return nil
}

// Preflight implements Spec; the upstream and server are checked with
// the plan's other nginx steps (see Preflight).
func (s *WeightSpec) Preflight(ctx context.Context, env *Env) []error { return nil }

// Apply implements Spec.
func (s *WeightSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Weight change failed", s.Weight.Range)
}

func (s *WeightSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	t := nginxTarget(s.Nginx)
	b, err := env.Balancer(ctx, t)
	if err != nil {
		return nil, err
	}
	ch, err := b.SetWeight(nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
		return checkpoint(ctx, mustJSON(weightRecord{Nginx: t, Change: c}))
	}), s.Server.Value, s.nginxWeight())
	if err != nil {
		if errors.Is(err, nginx.ErrRestoreFailed) {
			return mustJSON(weightRecord{Nginx: t, Change: ch}), err // the edit may be in place
		}
		return nil, err
	}
	if ch.Noop {
		note(fmt.Sprintf("%s already has weight %d", s.Server.Value, s.Weight.Value))
	} else {
		note(fmt.Sprintf("%s now has weight %d", s.Server.Value, s.Weight.Value))
	}
	return mustJSON(weightRecord{Nginx: t, Change: ch}), nil
}
