package steps

import (
	"context"
	"fmt"
	"sort"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Preflight checks, before anything changes, everything a plan's apply
// will rely on: every engine answers, every container and image exists,
// every nginx config parses, holds the upstream and server lines the plan
// names, and passes `nginx -t`. It returns every problem, not the first.
func Preflight(ctx context.Context, env *Env, p *dsl.Plan) []error {
	var errs []error
	for _, s := range p.Steps {
		r, ok := s.Spec.(Runnable)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: step type %q cannot run", s.Addr, s.Type))
			continue
		}
		for _, err := range r.Preflight(ctx, env) {
			errs = append(errs, fmt.Errorf("%s: %w", s.Addr, err))
		}
	}
	// One check per upstream, with every server the plan touches in it.
	servers := map[NginxTarget]map[string]bool{}
	for _, s := range p.Steps {
		var n *dsl.Nginx
		var server string
		switch sp := s.Spec.(type) {
		case *DrainSpec:
			n, server = sp.Nginx, sp.Server.Value
		case *RestoreSpec:
			n, server = sp.Nginx, sp.Server.Value
		case *WeightSpec:
			n, server = sp.Nginx, sp.Server.Value
		default:
			continue
		}
		if n == nil {
			continue
		}
		t := nginxTarget(n)
		if servers[t] == nil {
			servers[t] = map[string]bool{}
		}
		servers[t][server] = true
	}
	targets := make([]NginxTarget, 0, len(servers))
	for t := range servers {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool {
		return targets[i].Config+targets[i].Upstream < targets[j].Config+targets[j].Upstream
	})
	for _, t := range targets {
		b, err := env.Balancer(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("nginx (%s): %w", t.Config, err))
			continue
		}
		var list []string
		for s := range servers[t] {
			list = append(list, s)
		}
		sort.Strings(list)
		if err := b.Check(ctx, list); err != nil {
			errs = append(errs, fmt.Errorf("nginx upstream %q in %s: %w", t.Upstream, t.Config, err))
		}
	}
	return errs
}
