// Package executor turns a decoded plan into a step graph and walks it:
// up to N steps at once, a failed step skipping everything downstream, and
// on failure every completed step compensated in reverse completion order.
// It also keeps the apply's lock and journal.
package executor

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Graph is the step DAG of a plan. Nodes are indexed in source order; every
// traversal of the graph breaks ties by that index, so output built from it
// (show, graph, the apply order) is the same on every run.
//
// Its nodes are the plan's steps (0 to len(Steps)-1, the index of each in
// Steps) followed by its barriers (dsl.Barrier): points where the steps of
// a rollout batch wait for each other, so that lockstep costs edges linear
// in the batch, not quadratic. A barrier is never a step: Steps, Waves and
// Order hold steps only, and Deps and Users answer in steps, a barrier
// standing for the steps it waits for. Whole-graph walks that must stay
// linear use the node view (Nodes, NodeDeps, NodeUsers, Barrier).
//
// It is hand-written rather than taken from a graph library: it needs the
// source range of every edge (to point a cycle at the depends_on that closes
// it) and fully deterministic orders, and the whole of it is two linear
// algorithms (Tarjan's SCC and Kahn's layering) over slices of ints.
type Graph struct {
	Steps    []*dsl.Step
	barriers []*dsl.Barrier
	index    map[string]int
	// nodeDeps[v] are the nodes v depends on; nodeUsers[v] the nodes
	// depending on v; for every node, steps and barriers. (Not deps and
	// users: code written before barriers existed indexed those by step and
	// must now ask Deps and Users.)
	nodeDeps, nodeUsers [][]int
	// edge holds the declaration of each edge, keyed by (from, to) =
	// (dependent, dependency).
	edge map[[2]int]dsl.Dependency

	// stepDeps and stepUsers are deps and users of the steps with barriers
	// replaced by their steps: built on the first call of Deps or Users,
	// since only step-by-step callers (apply, preflight) need them, and a
	// batch of b targets makes them b² long.
	once                sync.Once
	stepDeps, stepUsers [][]int
}

// Build makes the graph of a plan and checks it. Every cycle is reported,
// each with its steps named in a stable order.
func Build(p *dsl.Plan) (*Graph, hcl.Diagnostics) {
	n := len(p.Steps) + len(p.Barriers)
	g := &Graph{
		Steps:     p.Steps,
		barriers:  p.Barriers,
		index:     make(map[string]int, n),
		nodeDeps:  make([][]int, n),
		nodeUsers: make([][]int, n),
		edge:      map[[2]int]dsl.Dependency{},
	}
	for i, s := range p.Steps {
		g.index[s.Addr] = i
	}
	for k, b := range p.Barriers {
		g.index[b.Addr] = len(p.Steps) + k
	}
	link := func(i int, d dsl.Dependency) {
		j, ok := g.index[d.Addr]
		if !ok {
			return // dsl reported it
		}
		if _, dup := g.edge[[2]int{i, j}]; dup {
			return
		}
		g.edge[[2]int{i, j}] = d
		g.nodeDeps[i] = append(g.nodeDeps[i], j)
		g.nodeUsers[j] = append(g.nodeUsers[j], i)
	}
	for i, s := range p.Steps {
		for _, d := range s.DependsOn {
			link(i, d)
		}
	}
	for k, b := range p.Barriers {
		for _, a := range b.After {
			link(len(p.Steps)+k, dsl.Dependency{Addr: a, Range: b.Range, Implicit: true})
		}
	}
	for i := range g.nodeDeps {
		sort.Ints(g.nodeDeps[i])
		sort.Ints(g.nodeUsers[i])
	}
	return g, g.cycles()
}

// Index returns the node index of a step address, or -1.
func (g *Graph) Index(addr string) int {
	if i, ok := g.index[addr]; ok && i < len(g.Steps) {
		return i
	}
	return -1
}

// Deps returns the indexes of the steps node i waits for directly: its
// dependencies, with every barrier replaced by the steps it waits for.
// Through a barrier of a batch of b targets that is b steps; a walk over
// the whole graph should use NodeDeps.
func (g *Graph) Deps(i int) []int {
	g.once.Do(g.expandAll)
	return g.stepDeps[i]
}

// Users returns the indexes of the steps that wait for node i directly,
// through barriers like Deps.
func (g *Graph) Users(i int) []int {
	g.once.Do(g.expandAll)
	return g.stepUsers[i]
}

func (g *Graph) expandAll() {
	n := len(g.Steps)
	g.stepDeps, g.stepUsers = make([][]int, n), make([][]int, n)
	for i := 0; i < n; i++ {
		g.stepDeps[i], g.stepUsers[i] = g.expand(g.nodeDeps, i), g.expand(g.nodeUsers, i)
	}
}

// expand returns adj[i] with barriers replaced by their own neighbours in
// adj, sorted; adj[i] itself when it holds no barrier (the common case,
// without allocating).
func (g *Graph) expand(adj [][]int, i int) []int {
	n := len(g.Steps)
	through := false
	for _, j := range adj[i] {
		if j >= n {
			through = true
			break
		}
	}
	if !through {
		return adj[i]
	}
	seen := map[int]bool{}
	var out []int
	stack := append([]int(nil), adj[i]...)
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[j] {
			continue
		}
		seen[j] = true
		if j >= n {
			stack = append(stack, adj[j]...)
			continue
		}
		out = append(out, j)
	}
	sort.Ints(out)
	return out
}

// Nodes returns the number of nodes: len(Steps) steps, then the barriers.
func (g *Graph) Nodes() int { return len(g.nodeDeps) }

// NodeDeps returns the nodes node v depends on directly, barriers
// included: each edge once, so a walk over every node is linear.
func (g *Graph) NodeDeps(v int) []int { return g.nodeDeps[v] }

// NodeUsers returns the nodes that depend on node v directly.
func (g *Graph) NodeUsers(v int) []int { return g.nodeUsers[v] }

// Barrier returns the barrier of node v, or nil when v is a step.
func (g *Graph) Barrier(v int) *dsl.Barrier {
	if v < len(g.Steps) {
		return nil
	}
	return g.barriers[v-len(g.Steps)]
}

// name is a node's address, a step's or a barrier's.
func (g *Graph) name(v int) string {
	if b := g.Barrier(v); b != nil {
		return b.Addr
	}
	return g.Steps[v].Addr
}

// cycles finds strongly connected components (Tarjan, iterative so that a
// 10,000-step chain cannot overflow the stack) and reports each one that is
// a cycle.
func (g *Graph) cycles() hcl.Diagnostics {
	n := g.Nodes()
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var sccs [][]int
	next := 0
	type frame struct{ v, child int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{v: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.child < len(g.nodeDeps[f.v]) {
				w := g.nodeDeps[f.v][f.child]
				f.child++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				} else if onStack[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				if p := call[len(call)-1].v; low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] == index[v] {
				var scc []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					scc = append(scc, w)
					if w == v {
						break
					}
				}
				if len(scc) > 1 || g.selfLoop(v) {
					sort.Ints(scc)
					sccs = append(sccs, scc)
				}
			}
		}
	}
	sort.Slice(sccs, func(a, b int) bool { return sccs[a][0] < sccs[b][0] })
	var diags hcl.Diagnostics
	for _, scc := range sccs {
		diags = append(diags, g.cycleDiag(scc))
	}
	return diags
}

func (g *Graph) selfLoop(v int) bool {
	_, ok := g.edge[[2]int{v, v}]
	return ok
}

// cycleDiag names the steps of one cycle, starting from the one declared
// first and following "depends on" edges, and points at the declaration of
// the edge that closes it.
func (g *Graph) cycleDiag(scc []int) *hcl.Diagnostic {
	in := map[int]bool{}
	for _, v := range scc {
		in[v] = true
	}
	start := scc[0]
	// Shortest path start → … → start along dependencies, within the SCC.
	prev := map[int]int{}
	queue := []int{start}
	seen := map[int]bool{}
	closing := -1
	for len(queue) > 0 && closing < 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.nodeDeps[v] {
			if !in[w] {
				continue
			}
			if w == start {
				closing = v
				break
			}
			if !seen[w] {
				seen[w] = true
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	path := []int{closing}
	for v := closing; v != start; {
		v = prev[v]
		path = append(path, v)
	}
	// path is closing … start; reverse it to start … closing.
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	names := make([]string, 0, len(path)+1)
	for _, v := range path {
		names = append(names, g.name(v))
	}
	names = append(names, g.name(start))
	e := g.edge[[2]int{closing, start}]
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Dependency cycle",
		Detail: fmt.Sprintf("These steps wait for each other, so none of them could ever start: %s (each depends on the next). Remove one of these dependencies; this one closes the cycle.",
			strings.Join(names, " → ")),
		Subject: e.Range.Ptr(),
	}
}

// Waves groups the steps into layers: every step of a wave depends only on
// steps of earlier waves, so the steps of one wave may run in parallel.
// Each wave is in source order. Only valid on an acyclic graph.
//
// A barrier adds no wave of its own: the steps after it are one wave after
// the latest step it waits for, as if they waited for those steps directly.
func (g *Graph) Waves() [][]*dsl.Step {
	n := g.Nodes()
	steps := len(g.Steps)
	level := make([]int, n)
	indeg := make([]int, n)
	for i := range g.nodeDeps {
		indeg[i] = len(g.nodeDeps[i])
	}
	var ready []int
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	maxLevel := 0
	for len(ready) > 0 {
		v := ready[0]
		ready = ready[1:]
		next := level[v]
		if v < steps {
			next++
			maxLevel = max(maxLevel, level[v])
		}
		for _, u := range g.nodeUsers[v] {
			if next > level[u] {
				level[u] = next
			}
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if steps == 0 {
		return nil
	}
	waves := make([][]*dsl.Step, maxLevel+1)
	for i := 0; i < steps; i++ {
		waves[level[i]] = append(waves[level[i]], g.Steps[i])
	}
	return waves
}

// Order returns every step in an order apply may run them one at a time:
// wave by wave, source order within a wave.
func (g *Graph) Order() []*dsl.Step {
	var out []*dsl.Step
	for _, w := range g.Waves() {
		out = append(out, w...)
	}
	return out
}
