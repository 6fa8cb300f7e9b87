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
	for _, s := range p.Steps {
		if c, ok := s.Spec.(TimeoutChecker); ok {
			timeout, at := SpecOf(s).DefaultTimeout(), s.DeclRange
			if s.Timeout.Set {
				timeout, at = s.Timeout.Value, s.Timeout.Range
			}
			diags = append(diags, c.CheckTimeout(timeout, s.Timeout.Set, at)...)
		}
	}
	for i, s := range g.Steps {
		if r, ok := s.Spec.(Replacer); ok {
			rp := r.Replaces()
			if rp.StartFirst {
				switched := false
				for d := range descendants(i) {
					if c, ok := g.Steps[d].Spec.(StartFirstCompleter); ok && c.Completes().Value == rp.Container.Value {
						switched = true
						break
					}
				}
				if !switched {
					diags = append(diags, noSwitch(s, rp))
				}
			} else if len(p.Nginx) > 0 {
				drained := false
				for a := range ancestors(i) {
					if m, ok := membershipOf(g.Steps[a].Spec); ok && m.Effect == TakesOut {
						drained = true
						break
					}
				}
				if !drained {
					diags = append(diags, noDrain(s, rp))
				}
			}
		}
		if c, ok := s.Spec.(StartFirstCompleter); ok {
			deployed := false
			for a := range ancestors(i) {
				if r, ok := g.Steps[a].Spec.(Replacer); ok && r.Replaces().StartFirst && r.Replaces().Container.Value == c.Completes().Value {
					deployed = true
					break
				}
			}
			if !deployed {
				diags = append(diags, noStartFirst(s, c))
			}
		}
		if m, ok := membershipOf(s.Spec); ok && m.Effect == TakesOut {
			restored := false
			for d := range descendants(i) {
				if r, ok := membershipOf(g.Steps[d].Spec); ok && r.Effect == PutsBack && r.Server.Value == m.Server.Value && r.Nginx == m.Nginx {
					restored = true
					break
				}
			}
			if !restored {
				diags = append(diags, noRestore(s, m))
			}
		}
	}
	return diags
}

func noSwitch(s *dsl.Step, rp Replacement) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Start-first deploy without a switch",
		Detail: fmt.Sprintf("%s starts the new %q next to the old one, but no switch step after it moves the traffic and stops the old one: it would run on next to the new one. Add a switch step for container %q that depends on this deploy's health check.",
			s.Addr, rp.Container.Value, rp.Container.Value),
		Subject: rp.Strategy.Ptr(),
	}
}

func noDrain(s *dsl.Step, rp Replacement) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Deploy without a drain before it",
		Detail: fmt.Sprintf("%s replaces container %q, but no drain step runs before it. If nginx sends it traffic, requests fail while it is replaced, and nginx keeps its old address until the next reload. Add a drain step for its server and make this deploy depend on it (or use a rollout block).",
			s.Addr, rp.Container.Value),
		Subject: s.DeclRange.Ptr(),
	}
}

func noStartFirst(s *dsl.Step, c StartFirstCompleter) *hcl.Diagnostic {
	server := ""
	if m, ok := membershipOf(s.Spec); ok {
		server = m.Server.Value
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Switch without a start-first deploy before it",
		Detail: fmt.Sprintf("%s moves %s's traffic from the old container of %q to the new one, but no deploy of %q with strategy = \"start-first\" runs before it, so there is no old container running next to a new one. Make it depend on that deploy (after its health check).",
			s.Addr, server, c.Completes().Value, c.Completes().Value),
		Subject: s.DeclRange.Ptr(),
	}
}

func noRestore(s *dsl.Step, m Membership) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Drain without a restore after it",
		Detail: fmt.Sprintf("%s takes %s out of upstream %q and no restore step puts it back afterwards, so it stays out of rotation after the apply. Add a restore step that depends on this one, unless leaving it out is the point (blue/green).",
			s.Addr, m.Server.Value, upstreamOf(m.Nginx)),
		Subject: s.DeclRange.Ptr(),
	}
}

func upstreamOf(n *dsl.Nginx) string {
	if n == nil {
		return ""
	}
	return n.Upstream.Value
}
