// This file holds what a dry run shows per step: the change each step
// that would run makes against the live engine and nginx.
package runner

import (
	"context"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// previews asks every step that would run and can preview (see
// steps.Previewer) what it would change. A step that cannot be read is an
// error of its own, not the dry run's: the preflight already passed.
func previews(ctx context.Context, env *steps.Env, g *executor.Graph, skips []string) ([]*steps.Change, []error) {
	changes := make([]*steps.Change, len(g.Steps))
	errs := make([]error, len(g.Steps))
	for i, s := range g.Steps {
		if skips[i] != "" {
			continue
		}
		p, ok := s.Spec.(steps.Previewer)
		if !ok {
			continue
		}
		ch, err := p.Preview(ctx, env)
		if err != nil {
			errs[i] = err
			continue
		}
		changes[i] = &ch
	}
	return changes, errs
}
