// This file holds Lint, validate's warnings and pairing errors about the
// plan's shape, linear in steps plus edges.
package steps

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/suggest"
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
	// A rollout's phase is one block for every target (or batch): its
	// problem is reported once, at that block, not once per expansion.
	type seenKey struct {
		summary, detail string
		at              hcl.Pos
		file            string
	}
	seen := map[seenKey]bool{}
	for _, s := range p.Steps {
		if c, ok := s.Spec.(TimeoutChecker); ok {
			timeout, at := SpecOf(s).DefaultTimeout(), s.DeclRange
			if s.Timeout.Set {
				timeout, at = s.Timeout.Value, s.Timeout.Range
			}
			for _, d := range c.CheckTimeout(timeout, s.Timeout.Set, at) {
				k := seenKey{d.Summary, d.Detail, hcl.Pos{}, ""}
				if d.Subject != nil {
					k.at, k.file = d.Subject.Start, d.Subject.Filename
				}
				if !seen[k] {
					seen[k] = true
					diags = append(diags, d)
				}
			}
		}
	}
	n := len(g.Steps)
	// drained[i]: a step that takes a server out runs before step i.
	var drained []bool
	if len(p.Nginx) > 0 {
		drained = make([]bool, n)
		// A barrier (a rollout batch's phase) is drained when a node it
		// waits for is: asked once, after every step before it (Order is
		// topological), so each edge is looked at once.
		barrier := map[int]bool{}
		var takenOut func(v int) bool
		takenOut = func(v int) bool {
			if v < n {
				m, ok := membershipOf(g.Steps[v].Spec)
				return drained[v] || ok && m.Effect == TakesOut
			}
			if d, ok := barrier[v]; ok {
				return d
			}
			d := slices.ContainsFunc(g.NodeDeps(v), takenOut)
			barrier[v] = d
			return d
		}
		for _, st := range g.Order() {
			i := g.Index(st.Addr)
			drained[i] = slices.ContainsFunc(g.NodeDeps(i), takenOut)
		}
	}
	after, before := newWalker(g, true), newWalker(g, false)
	// A start-first deploy with no switch and a switch with no deploy are
	// held back: when the switch runs after such a deploy, the two name
	// different containers, and that is one mistake, reported once, where
	// it was made (the switch's container).
	lonelyDeploys := map[int]*hcl.Diagnostic{}
	var lonelySwitches []int
	for i, s := range g.Steps {
		if r, ok := s.Spec.(Replacer); ok {
			rp := r.Replaces()
			switch {
			case rp.StartFirst:
				if after.find(i, "switch "+rp.Container.Value, func(j int) bool {
					c, ok := g.Steps[j].Spec.(StartFirstCompleter)
					return ok && c.Completes().Value == rp.Container.Value
				}) < 0 {
					lonelyDeploys[i] = noSwitch(s, rp)
				}
			case drained != nil && !drained[i] && !inBlueGreen(p, s):
				diags = append(diags, noDrain(s, rp))
			}
		}
		if c, ok := s.Spec.(StartFirstCompleter); ok {
			container := c.Completes().Value
			if before.find(i, "deploy "+container, func(j int) bool {
				r, ok := g.Steps[j].Spec.(Replacer)
				return ok && r.Replaces().StartFirst && r.Replaces().Container.Value == container
			}) < 0 {
				lonelySwitches = append(lonelySwitches, i)
			}
		}
		if m, ok := membershipOf(s.Spec); ok && m.Effect == TakesOut {
			if after.find(i, fmt.Sprintf("restore %p %s", m.Nginx, m.Server.Value), func(j int) bool {
				r, ok := membershipOf(g.Steps[j].Spec)
				return ok && r.Effect == PutsBack && r.Server.Value == m.Server.Value && r.Nginx == m.Nginx
			}) < 0 {
				diags = append(diags, noRestore(s, m))
			}
		}
	}
	for _, i := range lonelySwitches {
		sw := g.Steps[i]
		d := before.find(i, "lonely start-first deploy", func(j int) bool { return lonelyDeploys[j] != nil })
		if d < 0 {
			diags = append(diags, noStartFirst(sw, sw.Spec.(StartFirstCompleter)))
			continue
		}
		diags = append(diags, otherContainer(sw, sw.Spec.(StartFirstCompleter), g.Steps[d], g.Steps[d].Spec.(Replacer).Replaces()))
		delete(lonelyDeploys, d)
	}
	for _, i := range slices.Sorted(maps.Keys(lonelyDeploys)) {
		diags = append(diags, lonelyDeploys[i])
	}
	return diags
}

// otherContainer is a switch that runs after a start-first deploy of
// another container, neither having its pair: a typo in one of the names.
func otherContainer(sw *dsl.Step, c StartFirstCompleter, dep *dsl.Step, rp Replacement) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Switch and start-first deploy name different containers",
		Detail: fmt.Sprintf("%s completes container %q, but the start-first deploy before it, %s, replaces %q, and neither has a partner of its own.%s A switch must name the container of the start-first deploy it completes.",
			sw.Addr, c.Completes().Value, dep.Addr, rp.Container.Value, suggest.DidYouMean(c.Completes().Value, []string{rp.Container.Value})),
		Subject: c.Completes().Range.Ptr(),
	}
}

// walker finds, from a step, a step after it (forward) or before it that
// matches, breadth first, stopping at the first (find returns its index,
// or -1). What a walk that found
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
	return &walker{g: g, forward: forward, seen: make([]int, g.Nodes()), dead: map[string]map[int]bool{}}
}

func (w *walker) find(from int, key string, match func(int) bool) int {
	w.walk++
	dead := w.dead[key]
	w.queue = append(w.queue[:0], from)
	w.seen[from] = w.walk
	for h := 0; h < len(w.queue); h++ {
		// Node edges, barriers included: each edge once, where the steps'
		// own Deps would list a batch's b steps for each of its b steps.
		next := w.g.NodeDeps(w.queue[h])
		if w.forward {
			next = w.g.NodeUsers(w.queue[h])
		}
		for _, v := range next {
			if w.seen[v] == w.walk || dead[v] {
				continue
			}
			if v < len(w.g.Steps) && match(v) {
				return v
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
	return -1
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
