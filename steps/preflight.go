// This file holds Preflight: the checks of a whole plan against the real
// engines and nginx before anything changes.
package steps

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Preflight checks, before anything changes, everything a plan's apply
// will rely on: every engine answers, every container and image exists,
// every nginx config parses, holds the upstream and server lines the plan
// names, and passes `nginx -t`, and no drain leaves an upstream without a
// server to answer. It returns every problem, not the first; an engine that
// does not answer is reported once, not once per step that uses it.
func Preflight(ctx context.Context, env *Env, p *dsl.Plan, g *executor.Graph) []error {
	var errs []error
	down := map[dockerx.Endpoint]bool{} // engines that do not answer
	// engine reports whether the engine of docker block d answers; where
	// is what to point at when d is nil (the environment's engine).
	engine := func(d *dsl.Docker, where hcl.Range) bool {
		host := engineRef(d).Endpoint
		if ok, seen := down[host]; seen {
			return !ok
		}
		_, err := env.Engine(ctx, host)
		down[host] = err != nil
		if err != nil {
			if d != nil {
				where = d.DeclRange
				if d.Host.Set {
					where = d.Host.Range
				} else if d.Context.Set {
					where = d.Context.Range
				}
			}
			errs = append(errs, dsl.At(err, "Docker engine does not answer", where))
		}
		return err == nil
	}
	for _, s := range p.Steps {
		r := SpecOf(s)
		if u, uses := r.(EngineUser); uses && !engine(u.DockerEngine(), s.DeclRange) {
			continue
		}
		for _, err := range r.Preflight(ctx, env) {
			errs = append(errs, dsl.At(fmt.Errorf("%s: %w", s.Addr, err), "Step cannot run", s.DeclRange))
		}
	}
	// One check per upstream, with every server the plan touches in it.
	servers := map[NginxTarget]map[string]bool{}
	blocks := map[NginxTarget]*dsl.Nginx{}
	for _, s := range p.Steps {
		m, ok := membershipOf(s.Spec)
		if !ok {
			continue
		}
		t := nginxTarget(m.Nginx)
		if servers[t] == nil {
			servers[t] = map[string]bool{}
			blocks[t] = m.Nginx
		}
		servers[t][m.Server.Value] = true
	}
	targets := make([]NginxTarget, 0, len(servers))
	for t := range servers {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool {
		return targets[i].Config+targets[i].Upstream < targets[j].Config+targets[j].Upstream
	})
	var o *order
	for _, t := range targets {
		n := blocks[t]
		if err := hostNginxElsewhere(n); err != nil {
			errs = append(errs, err)
			continue
		}
		if t.Container != "" && !engine(n.Docker, n.DeclRange) {
			continue
		}
		b, err := env.Balancer(ctx, t)
		if err != nil {
			errs = append(errs, dsl.At(fmt.Errorf("nginx (%s): %w", t.Config, err), "Nginx cannot be reached", n.DeclRange))
			continue
		}
		var list []string
		for s := range servers[t] {
			list = append(list, s)
		}
		sort.Strings(list)
		if err := b.Check(ctx, list); err != nil {
			errs = append(errs, dsl.At(fmt.Errorf("nginx upstream %q in %s: %w", t.Upstream, t.Config, err), "Nginx upstream check failed", n.Upstream.Range))
			continue
		}
		if g != nil {
			if o == nil {
				o = newOrder(g)
			}
			errs = append(errs, outages(ctx, b, t, n.Upstream.Range, o)...)
		}
	}
	return errs
}

// membershipOf is what a step does to upstream membership, if anything.
func membershipOf(spec dsl.Spec) (Membership, bool) {
	if m, ok := spec.(MembershipChanger); ok {
		if mb := m.Membership(); mb.Nginx != nil {
			return mb, true
		}
	}
	return Membership{}, false
}

// outages refuses drains that would leave the upstream with no server to
// send requests to: the upstream's only server, or the last one up, or
// servers drained at the same time (steps that no restore orders apart,
// such as the targets of one rollout batch) that together are all of it.
// nginx answers 502 for as long as that lasts: an outage, the one thing a
// plan must not do.
func outages(ctx context.Context, b nginx.Membership, t NginxTarget, upstream hcl.Range, o *order) []error {
	g := o.g
	members, err := b.Members(ctx)
	if err != nil {
		return []error{dsl.At(fmt.Errorf("nginx upstream %q in %s: %w", t.Upstream, t.Config, err), "Nginx upstream cannot be read", upstream)}
	}
	drains := o.drains(t)
	if len(drains) == 0 {
		return nil
	}
	restores := o.restores(t)
	// A server down now serves during drain d if the plan restores it
	// before d (blue/green: green comes in, then blue goes out).
	restoredBefore := func(server string, d int) bool {
		return slices.ContainsFunc(restores[server], func(r int) bool { return o.before(r, d) })
	}
	var errs []error
	reported := map[string]bool{} // one error per set of servers out together
	for _, d := range drains {
		out := map[string]string{g.Steps[d.step].Addr: d.server} // step → server it takes out
		for _, e := range drains {
			if e.step != d.step && o.overlap(d, e) {
				out[g.Steps[e.step].Addr] = e.server
			}
		}
		taken := map[string]bool{}
		for _, s := range out {
			taken[s] = true
		}
		key := strings.Join(slices.Sorted(maps.Keys(taken)), " ")
		if reported[key] {
			continue
		}
		serving := 0
		var alreadyDown []string
		for _, m := range members {
			switch {
			case taken[m.Address]:
			case m.Down && !restoredBefore(m.Address, d.step):
				alreadyDown = append(alreadyDown, m.Address)
			default:
				serving++
			}
		}
		if serving > 0 {
			continue
		}
		var why string
		switch {
		case len(members) == 1:
			why = "it is the upstream's only server: draining it means no server answers until it is back (nginx answers 502). Either deploy it start-first instead (strategy = \"start-first\" on the deploy and a switch step after its health check, no drain: the new container starts next to the old one and takes over), or add a second replica to the upstream and roll them one at a time"
		case len(out) > 1:
			var others []string
			for step, s := range out {
				if step != g.Steps[d.step].Addr {
					others = append(others, fmt.Sprintf("%s (%s)", s, step))
				}
			}
			sort.Strings(others)
			why = fmt.Sprintf("it is drained at the same time as %s, and together they are every server of the upstream: nothing would answer meanwhile. Drain fewer at once (a smaller batch_size, or make the steps depend on each other's restore)", strings.Join(others, ", "))
		default:
			why = fmt.Sprintf("it is the last server not marked down (%s already down): draining it leaves no server to answer. Put another server back first", strings.Join(alreadyDown, ", "))
		}
		reported[key] = true
		errs = append(errs, dsl.At(fmt.Errorf("%s: draining %q would leave upstream %q in %s with no server to send requests to: %s",
			g.Steps[d.step].Addr, d.server, t.Upstream, t.Config, why), "Drain would leave no server", g.Steps[d.step].DeclRange))
	}
	return errs
}
