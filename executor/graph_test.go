package executor

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// lockstepPlan is two targets (1, 2) of two phases (a, b) moving in
// lockstep through the barrier "batch a done", then c after b2 alone.
func lockstepPlan() *dsl.Plan {
	step := func(addr string, deps ...string) *dsl.Step {
		s := &dsl.Step{Addr: addr}
		for _, d := range deps {
			s.DependsOn = append(s.DependsOn, dsl.Dependency{Addr: d, Implicit: true})
		}
		return s
	}
	return &dsl.Plan{
		Steps: []*dsl.Step{
			step("a1"), step("a2"),
			step("b1", "a1", "batch a done"), step("b2", "a2", "batch a done"),
			step("c", "b2"),
		},
		Barriers: []*dsl.Barrier{{Addr: "batch a done", After: []string{"a1", "a2"}}},
	}
}

func addrs(g *Graph, idx []int) string {
	var out []string
	for _, i := range idx {
		out = append(out, g.Steps[i].Addr)
	}
	return strings.Join(out, " ")
}

// TestBarrier: a barrier is a node of the graph that is never a step; the
// step view (Deps, Users, Waves, Order, Index) sees through it, the node
// view (NodeDeps, NodeUsers) keeps one edge per dependency.
func TestBarrier(t *testing.T) {
	g, diags := Build(lockstepPlan())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b1, a1 := g.Index("b1"), g.Index("a1")
	if g.Nodes() != 6 || len(g.Steps) != 5 || g.Index("batch a done") != -1 {
		t.Fatalf("%d nodes, %d steps, barrier index %d", g.Nodes(), len(g.Steps), g.Index("batch a done"))
	}
	if got := addrs(g, g.Deps(b1)); got != "a1 a2" {
		t.Errorf("Deps(b1) = %s, want a1 a2", got)
	}
	if got := addrs(g, g.Users(a1)); got != "b1 b2" {
		t.Errorf("Users(a1) = %s, want b1 b2", got)
	}
	if nd := g.NodeDeps(b1); len(nd) != 2 || g.Barrier(nd[1]) == nil || g.Barrier(nd[1]).Addr != "batch a done" {
		t.Errorf("NodeDeps(b1) = %v, want a1 and the barrier", nd)
	}
	if g.Barrier(b1) != nil {
		t.Error("a step is not a barrier")
	}
	var waves []string
	for _, w := range g.Waves() {
		var ws []string
		for _, s := range w {
			ws = append(ws, s.Addr)
		}
		waves = append(waves, strings.Join(ws, ","))
	}
	if got := strings.Join(waves, " | "); got != "a1,a2 | b1,b2 | c" {
		t.Errorf("waves %s, want a1,a2 | b1,b2 | c (a barrier adds no wave)", got)
	}
	if n := len(g.Order()); n != 5 {
		t.Errorf("Order has %d steps, want 5", n)
	}
}

// TestBarrierCycle: a cycle through a barrier is reported, naming it.
func TestBarrierCycle(t *testing.T) {
	p := lockstepPlan()
	p.Steps[0].DependsOn = append(p.Steps[0].DependsOn, dsl.Dependency{Addr: "b2"})
	_, diags := Build(p)
	if len(diags) != 1 || diags[0].Summary != "Dependency cycle" || !strings.Contains(diags[0].Detail, "batch a done") {
		t.Fatalf("want one cycle through the barrier, got %v", diags)
	}
}

// TestRunWaitsAtBarrier: no step after a barrier starts before every step
// before it is done, even with parallelism to spare.
func TestRunWaitsAtBarrier(t *testing.T) {
	g, diags := Build(lockstepPlan())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, tasksFor(g, log, nil), Options{Parallelism: 4})
	if out.Code != ExitApplied {
		t.Fatalf("exit %d", out.Code)
	}
	pos := func(s string) int { return slices.Index(log.evs, "apply "+s) }
	for _, after := range []string{"b1", "b2"} {
		for _, before := range []string{"a1", "a2"} {
			if pos(after) < pos(before) {
				t.Errorf("%s applied before %s: %v", after, before, log.evs)
			}
		}
	}
	if pos("c") < pos("b2") {
		t.Errorf("c before b2: %v", log.evs)
	}
}
