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
func Lint(p *dsl.Plan, g *executor.Graph) hcl.Diagnostics {
	if len(p.Nginx) == 0 || g == nil {
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
