package steps

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// Lint finds plans that are valid but would drop requests, and says so as
// warnings at validate time, long before apply:
//
//   - a deploy that no drain runs before, in a plan that has an nginx: the
//     container is replaced while nginx still sends it requests (the seed's
//     "naive recreate", which lost nearly every request);
//   - a drain with no restore of the same server after it: the server would
//     stay out of rotation after a successful apply.
//
// and as errors the plans that cannot work: a start-first deploy that no
// switch completes (the old container would run on, and the apply could
// not remove it), or a switch with no start-first deploy before it.
func Lint(p *dsl.Plan, g *executor.Graph) hcl.Diagnostics {
	if g == nil {
		return nil
	}
	var diags hcl.Diagnostics
	ancestors := func(i int) map[int]bool {
		seen := map[int]bool{}
		stack := []int{i}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, d := range g.Deps(v) {
				if !seen[d] {
					seen[d] = true
					stack = append(stack, d)
				}
			}
		}
		return seen
	}
	descendants := func(i int) map[int]bool {
		seen := map[int]bool{}
		stack := []int{i}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, u := range g.Users(v) {
				if !seen[u] {
					seen[u] = true
					stack = append(stack, u)
				}
			}
		}
		return seen
	}
	for i, s := range g.Steps {
		switch sp := s.Spec.(type) {
		case *DeploySpec:
			if sp.StartFirst() {
				switched := false
				for d := range descendants(i) {
					if sw, ok := g.Steps[d].Spec.(*SwitchSpec); ok && sw.Container.Value == sp.Container.Value {
						switched = true
						break
					}
				}
				if !switched {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Start-first deploy without a switch",
						Detail: fmt.Sprintf("%s starts the new %q next to the old one, but no switch step after it moves the traffic and stops the old one: it would run on next to the new one. Add a switch step for container %q that depends on this deploy's health check.",
							s.Addr, sp.Container.Value, sp.Container.Value),
						Subject: sp.Strategy.Range.Ptr(),
					})
				}
				continue
			}
			if len(p.Nginx) == 0 {
				continue
			}
			drained := false
			for a := range ancestors(i) {
				if _, ok := g.Steps[a].Spec.(*DrainSpec); ok {
					drained = true
					break
				}
			}
			if !drained {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Deploy without a drain before it",
					Detail: fmt.Sprintf("%s replaces container %q, but no drain step runs before it. If nginx sends it traffic, requests fail while it is replaced, and nginx keeps its old address until the next reload. Add a drain step for its server and make this deploy depend on it (or use a rollout block).",
						s.Addr, sp.Container.Value),
					Subject: s.DeclRange.Ptr(),
				})
			}
		case *SwitchSpec:
			deployed := false
			for a := range ancestors(i) {
				if d, ok := g.Steps[a].Spec.(*DeploySpec); ok && d.StartFirst() && d.Container.Value == sp.Container.Value {
					deployed = true
					break
				}
			}
			if !deployed {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Switch without a start-first deploy before it",
					Detail: fmt.Sprintf("%s moves %s's traffic from the old container of %q to the new one, but no deploy of %q with strategy = \"start-first\" runs before it, so there is no old container running next to a new one. Make it depend on that deploy (after its health check).",
						s.Addr, sp.Server.Value, sp.Container.Value, sp.Container.Value),
					Subject: s.DeclRange.Ptr(),
				})
			}
		case *DrainSpec:
			restored := false
			for d := range descendants(i) {
				if r, ok := g.Steps[d].Spec.(*RestoreSpec); ok && r.Server.Value == sp.Server.Value && r.Nginx == sp.Nginx {
					restored = true
					break
				}
			}
			if !restored {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Drain without a restore after it",
					Detail: fmt.Sprintf("%s takes %s out of upstream %q and no restore step puts it back afterwards, so it stays out of rotation after the apply. Add a restore step that depends on this one, unless leaving it out is the point (blue/green).",
						s.Addr, sp.Server.Value, upstreamOf(sp.Nginx)),
					Subject: s.DeclRange.Ptr(),
				})
			}
		}
	}
	return diags
}

func upstreamOf(n *dsl.Nginx) string {
	if n == nil {
		return ""
	}
	return n.Upstream.Value
}
