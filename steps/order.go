// This file holds order: which steps of a graph always finish before
// which, and the drain windows of an upstream, for preflight and skips.
package steps

import "github.com/nonstop-deploy/nonstop/executor"

// order answers "does step a always finish before step b starts?" for the
// step graph: every step's ancestors as a bitset, computed in one pass in
// dependency order (a 10,000-step plan takes about 12 MB and milliseconds).
type order struct {
	g     *executor.Graph
	words int
	anc   []uint64 // anc[i*words : (i+1)*words] are step i's ancestors
}

func newOrder(g *executor.Graph) *order {
	n := len(g.Steps)
	o := &order{g: g, words: (n + 63) / 64}
	o.anc = make([]uint64, n*o.words)
	for _, st := range g.Order() {
		i := g.Index(st.Addr)
		row := o.anc[i*o.words : (i+1)*o.words]
		for _, d := range g.Deps(i) {
			row[d/64] |= 1 << (d % 64)
			for w, v := range o.anc[d*o.words : (d+1)*o.words] {
				row[w] |= v
			}
		}
	}
	return o
}

// before reports whether b (transitively) depends on a.
func (o *order) before(a, b int) bool { return o.anc[b*o.words+a/64]&(1<<(a%64)) != 0 }

// window is a drain and the restore that ends it (-1: none, the server
// stays out until the end of the plan).
type window struct {
	step, restore int
	server        string
}

// drains lists the drain steps of one upstream, each with its restore: the
// first restore of the same server that depends on it.
func (o *order) drains(t NginxTarget) []window {
	restores := o.restores(t)
	var out []window
	for i, s := range o.g.Steps {
		m, ok := membershipOf(s.Spec)
		if !ok || m.Effect != TakesOut || nginxTarget(m.Nginx) != t {
			continue
		}
		w := window{step: i, restore: -1, server: m.Server.Value}
		for _, j := range restores[w.server] {
			if o.before(i, j) && (w.restore < 0 || o.before(j, w.restore)) {
				w.restore = j
			}
		}
		out = append(out, w)
	}
	return out
}

// restores indexes the restore steps of one upstream by server.
func (o *order) restores(t NginxTarget) map[string][]int {
	out := map[string][]int{}
	for i, st := range o.g.Steps {
		if m, ok := membershipOf(st.Spec); ok && m.Effect == PutsBack && nginxTarget(m.Nginx) == t {
			out[m.Server.Value] = append(out[m.Server.Value], i)
		}
	}
	return out
}

// overlap reports whether two drains can have their servers out at the
// same time: neither is restored before the other starts.
func (o *order) overlap(a, b window) bool {
	return (a.restore < 0 || !o.before(a.restore, b.step)) && (b.restore < 0 || !o.before(b.restore, a.step))
}
