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
//   - a stop-first replacement (deploy) that no drain runs before, in a
//     plan that has an nginx: the container is replaced while nginx still
//     sends it requests (the seed's "naive recreate", which lost nearly
//     every request);
//   - a drain with no restore of the same server after it: the server
//     would stay out of rotation after a successful apply.
//
// and as errors the plans that cannot work: a start-first deploy that no
// switch completes (the old container would run on, and the apply could
// not remove it), a switch with no start-first deploy before it, a step
// whose timeout it can never meet (TimeoutChecker).
//
// It asks capabilities (Replacer, MembershipChanger, StartFirstCompleter),
// never step types. It is linear in steps + edges for plans that pass: the
// drain before a deploy is one pass in dependency order, and each pairing
// (a drain and its restore, a start-first deploy and its switch) is a walk
// that stops at the first match, a few steps away in the plans people
// write. A walk that finds nothing marks what it saw as dead for that
// key, so the walks of one server or container never cover a step twice.
func Lint(p *dsl.Plan, g *executor.Graph) hcl.Diagnostics {
	if g == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, s := range p.Steps {
		if c, ok := s.Spec.(TimeoutChecker); ok {
			timeout, at := SpecOf(s).DefaultTimeout(), s.DeclRange
			if s.Timeout.Set {
				timeout, at = s.Timeout.Value, s.Timeout.Range
			}
			diags = append(diags, c.CheckTimeout(timeout, s.Timeout.Set, at)...)
		}
	}
	n := len(g.Steps)
	// drained[i]: a step that takes a server out runs before step i.
	var drained []bool
	if len(p.Nginx) > 0 {
		drained = make([]bool, n)
		for _, st := range g.Order() {
			i := g.Index(st.Addr)
			for _, d := range g.Deps(i) {
				if m, ok := membershipOf(g.Steps[d].Spec); drained[d] || ok && m.Effect == TakesOut {
					drained[i] = true
					break
				}
			}
		}
	}
	after, before := newWalker(g, true), newWalker(g, false)
	for i, s := range g.Steps {
		if r, ok := s.Spec.(Replacer); ok {
			rp := r.Replaces()
			switch {
			case rp.StartFirst:
				if !after.find(i, "switch "+rp.Container.Value, func(j int) bool {
					c, ok := g.Steps[j].Spec.(StartFirstCompleter)
					return ok && c.Completes().Value == rp.Container.Value
				}) {
					diags = append(diags, noSwitch(s, rp))
				}
			case drained != nil && !drained[i]:
				diags = append(diags, noDrain(s, rp))
			}
		}
		if c, ok := s.Spec.(StartFirstCompleter); ok {
			container := c.Completes().Value
			if !before.find(i, "deploy "+container, func(j int) bool {
				r, ok := g.Steps[j].Spec.(Replacer)
				return ok && r.Replaces().StartFirst && r.Replaces().Container.Value == container
			}) {
				diags = append(diags, noStartFirst(s, c))
			}
		}
		if m, ok := membershipOf(s.Spec); ok && m.Effect == TakesOut {
			if !after.find(i, fmt.Sprintf("restore %p %s", m.Nginx, m.Server.Value), func(j int) bool {
				r, ok := membershipOf(g.Steps[j].Spec)
				return ok && r.Effect == PutsBack && r.Server.Value == m.Server.Value && r.Nginx == m.Nginx
			}) {
				diags = append(diags, noRestore(s, m))
			}
		}
	}
	return diags
}

// walker finds, from a step, a step after it (forward) or before it that
// matches, breadth first, stopping at the first. What a walk that found
// nothing saw is dead for its key: later walks for the key skip it.
type walker struct {
	g       *executor.Graph
	forward bool
	seen    []int // seen[v] == walk: v is queued in the current walk
	walk    int
	queue   []int
	dead    map[string]map[int]bool
}

func newWalker(g *executor.Graph, forward bool) *walker {
	return &walker{g: g, forward: forward, seen: make([]int, len(g.Steps)), dead: map[string]map[int]bool{}}
}

func (w *walker) find(from int, key string, match func(int) bool) bool {
	w.walk++
	dead := w.dead[key]
	w.queue = append(w.queue[:0], from)
	w.seen[from] = w.walk
	for h := 0; h < len(w.queue); h++ {
		next := w.g.Deps(w.queue[h])
		if w.forward {
			next = w.g.Users(w.queue[h])
		}
		for _, v := range next {
			if w.seen[v] == w.walk || dead[v] {
				continue
			}
			if match(v) {
				return true
			}
			w.seen[v] = w.walk
			w.queue = append(w.queue, v)
		}
	}
	if dead == nil {
		dead = map[int]bool{}
		w.dead[key] = dead
	}
	for _, v := range w.queue[1:] {
		dead[v] = true
	}
	return false
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
