package dsl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// load reads a plan and builds its graph the way cmd/plan does: the graph
// (and its cycle check) only when the plan itself decoded cleanly.
func load(t testing.TB, path string, opts dsl.Options) (*dsl.Plan, *executor.Graph, hcl.Diagnostics) {
	t.Helper()
	p, diags := dsl.Load(path, steps.Builtin(), opts)
	if diags.HasErrors() {
		return p, nil, diags
	}
	g, gd := executor.Build(p)
	return p, g, append(diags, gd...)
}

// plansIn lists the plans of a testdata folder: every *.hcl file, and every
// sub-folder (a plan split over several files).
func plansIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".hcl") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no plans in %s", dir)
	}
	return out
}

func diagString(d *hcl.Diagnostic) string {
	where := "(no range)"
	if d.Subject != nil {
		where = fmt.Sprintf("%s:%d,%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column)
	}
	return fmt.Sprintf("%s: %s: %s", where, d.Summary, d.Detail)
}

// TestValid loads every plan of testdata/valid and expects no diagnostic
// at all, not even a warning.
func TestValid(t *testing.T) {
	for _, path := range plansIn(t, "testdata/valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, g, diags := load(t, path, dsl.Options{})
			for _, d := range diags {
				t.Errorf("unexpected diagnostic: %s", diagString(d))
			}
			if t.Failed() {
				return
			}
			if len(p.Steps) == 0 {
				t.Fatal("no steps")
			}
			seen := map[string]bool{}
			for _, s := range p.Steps {
				if seen[s.Addr] {
					t.Errorf("duplicate address %s", s.Addr)
				}
				seen[s.Addr] = true
				if s.Spec == nil {
					t.Errorf("%s: nil spec", s.Addr)
				}
				if s.DeclRange.Filename == "" {
					t.Errorf("%s: no declaration range", s.Addr)
				}
			}
			if n := len(g.Order()); n != len(p.Steps) {
				t.Errorf("graph orders %d steps, plan has %d", n, len(p.Steps))
			}
		})
	}
}

// deps returns the addresses of the steps a step waits for directly in
// the graph (a barrier standing for the steps it waits for), sorted.
func deps(t *testing.T, p *dsl.Plan, g *executor.Graph, addr string) []string {
	t.Helper()
	s := p.Step(addr)
	if s == nil {
		var all []string
		for _, s := range p.Steps {
			all = append(all, s.Addr)
		}
		t.Fatalf("no step %s; have %s", addr, strings.Join(all, ", "))
	}
	out := []string{}
	for _, j := range g.Deps(g.Index(addr)) {
		out = append(out, g.Steps[j].Addr)
	}
	sort.Strings(out)
	return out
}

func waveAddrs(g *executor.Graph) [][]string {
	var out [][]string
	for _, w := range g.Waves() {
		var ws []string
		for _, s := range w {
			ws = append(ws, s.Addr)
		}
		out = append(out, ws)
	}
	return out
}

// TestValidStructure checks what the valid plans decode to: step counts,
// addresses, dependencies (explicit, implicit, rollout chaining) and waves.
func TestValidStructure(t *testing.T) {
	type depCase struct {
		addr string
		want []string
	}
	cases := []struct {
		file  string
		steps int
		waves int
		deps  []depCase
	}{
		{file: "variables.hcl", steps: 4, waves: 4, deps: []depCase{
			{"step.deploy.app2", []string{"step.drain.app2"}},
		}},
		{file: "locals.hcl", steps: 2, waves: 2},
		{file: "nginx-container.hcl", steps: 2, waves: 2},
		{file: "nginx-host.hcl", steps: 4, waves: 2, deps: []depCase{
			{"step.restore.api", []string{"step.drain.api", "step.drain.api_internal"}},
		}},
		{file: "step-types.hcl", steps: 4, waves: 4},
		{file: "health-checks.hcl", steps: 6, waves: 2, deps: []depCase{
			{"step.health_check.web_via_nginx", []string{"step.health_check.web_http"}},
			{"step.health_check.cache_exec", []string{"step.health_check.db_tcp"}},
			{"step.health_check.web_http", []string{}},
		}},
		{file: "for-each-set.hcl", steps: 12, waves: 4, deps: []depCase{
			{`step.deploy.app["app2"]`, []string{`step.drain.app["app2"]`}},
			{`step.restore.app["app3"]`, []string{`step.health_check.app["app3"]`}},
		}},
		{file: "for-each-map.hcl", steps: 9, waves: 5, deps: []depCase{
			{`step.drain.svc["api"]`, []string{}},
			{`step.health_check.svc["web"]`, []string{`step.deploy.svc["web"]`}},
			{`step.restore.svc["web"]`, []string{`step.health_check.svc["web"]`}},
			{"step.deploy.after_api", []string{`step.restore.svc["api"]`, `step.restore.svc["web"]`}},
		}},
		{file: "implicit-deps.hcl", steps: 12, waves: 5, deps: []depCase{
			{`step.health_check.pair["a"]`, []string{`step.deploy.pair["a"]`}},
			{`rollout.again["app2"].drain`, []string{"step.deploy.app2"}},
			{`rollout.again["app2"].deploy`, []string{`rollout.again["app2"].drain`, "step.deploy.app1"}},
			{"step.deploy.app2", []string{}},
			{"step.deploy.app1", []string{"step.deploy.app2"}},
			{"step.health_check.app1", []string{"step.deploy.app1"}},
			{"step.restore.app1", []string{"step.health_check.app1"}},
		}},
		{file: "depends-on.hcl", steps: 8 + 8, deps: []depCase{
			{"step.deploy.one", []string{
				`rollout.apps["app1"].deploy`, `rollout.apps["app1"].drain`, `rollout.apps["app1"].health_check`, `rollout.apps["app1"].restore`,
				`rollout.apps["app2"].deploy`, `rollout.apps["app2"].drain`, `rollout.apps["app2"].health_check`, `rollout.apps["app2"].restore`,
			}},
			{`step.deploy.pair["a"]`, []string{"step.deploy.one"}},
			{`step.health_check.pair["b"]`, []string{`step.deploy.pair["b"]`}},
			{"step.restore.after_b", []string{
				`rollout.apps["app2"].deploy`, `rollout.apps["app2"].drain`, `rollout.apps["app2"].health_check`, `rollout.apps["app2"].restore`,
				`step.health_check.pair["b"]`,
			}},
			{"step.drain.after_deploy", []string{`rollout.apps["app1"].deploy`}},
			{"step.restore.after_all", []string{"step.drain.after_deploy", `step.health_check.pair["a"]`, `step.health_check.pair["b"]`}},
		}},
		{file: "rollout-batch.hcl", steps: 1 + 5*4, waves: 1 + 3*4, deps: []depCase{
			{`rollout.apps["app1"].drain`, []string{"step.deploy.migrations"}},
			{`rollout.apps["app2"].drain`, []string{"step.deploy.migrations"}},
			// A batch moves in lockstep: no reload overlaps a deploy. The
			// batch waits at a barrier per phase; through it, each step
			// waits for the whole previous phase of its batch.
			{`rollout.apps["app1"].deploy`, []string{`rollout.apps["app1"].drain`, `rollout.apps["app2"].drain`}},
			{`rollout.apps["app2"].restore`, []string{`rollout.apps["app1"].health_check`, `rollout.apps["app2"].health_check`}},
			{`rollout.apps["app3"].drain`, []string{`rollout.apps["app1"].restore`, `rollout.apps["app2"].restore`}},
			{`rollout.apps["app4"].drain`, []string{`rollout.apps["app1"].restore`, `rollout.apps["app2"].restore`}},
			{`rollout.apps["app5"].drain`, []string{`rollout.apps["app3"].restore`, `rollout.apps["app4"].restore`}},
			{`rollout.apps["app5"].restore`, []string{`rollout.apps["app5"].health_check`}},
		}},
		{file: "blue-green.hcl", steps: 1 + 4*2 + 1 + 1 + 1, deps: []depCase{
			{`blue_green.web.deploy["app1-blue"]`, []string{"step.health_check.db"}},
			{`blue_green.web.deploy["app2-blue"]`, []string{`blue_green.web.health_check["app1-blue"]`, "step.health_check.db"}},
			{`blue_green.web.health_check["app2-green"]`, []string{`blue_green.web.deploy["app2-green"]`}},
			{"blue_green.web.cutover", []string{
				`blue_green.web.health_check["app1-blue"]`, `blue_green.web.health_check["app1-green"]`,
				`blue_green.web.health_check["app2-blue"]`, `blue_green.web.health_check["app2-green"]`,
			}},
			{"blue_green.web.gate", []string{"blue_green.web.cutover"}},
			{"step.health_check.after", []string{
				"blue_green.web.cutover",
				`blue_green.web.deploy["app1-blue"]`, `blue_green.web.deploy["app1-green"]`, `blue_green.web.deploy["app2-blue"]`, `blue_green.web.deploy["app2-green"]`,
				"blue_green.web.gate",
				`blue_green.web.health_check["app1-blue"]`, `blue_green.web.health_check["app1-green"]`,
				`blue_green.web.health_check["app2-blue"]`, `blue_green.web.health_check["app2-green"]`,
			}},
		}},
		{file: "blue-green-backup.hcl", steps: 4*2 + 1, deps: []depCase{
			{"blue_green.web.cutover", []string{
				`blue_green.web.health_check["app1-blue"]`, `blue_green.web.health_check["app1-green"]`,
				`blue_green.web.health_check["app2-blue"]`, `blue_green.web.health_check["app2-green"]`,
			}},
		}},
		{file: "blue-green-refs.hcl", steps: 1 + 2*2 + 1, waves: 4, deps: []depCase{
			{`blue_green.web.deploy["b1"]`, []string{"step.deploy.worker"}},
			{`blue_green.web.deploy["g1"]`, []string{"step.deploy.worker"}},
		}},
		{file: "rollout-gate.hcl", steps: 1 + 5*4 + 3 + 2*4 + 2 + 1, waves: 1 + 3*5 + 1, deps: []depCase{
			{`rollout.apps["app1"].drain`, []string{"step.deploy.migrations"}},
			// One gate per batch, after every restore of the batch.
			{"rollout.apps.gate[1]", []string{`rollout.apps["app1"].restore`, `rollout.apps["app2"].restore`}},
			// The next batch's drains wait for the gate, and only it.
			{`rollout.apps["app3"].drain`, []string{"rollout.apps.gate[1]"}},
			{`rollout.apps["app4"].drain`, []string{"rollout.apps.gate[1]"}},
			{"rollout.apps.gate[2]", []string{`rollout.apps["app3"].restore`, `rollout.apps["app4"].restore`}},
			{`rollout.apps["app5"].drain`, []string{"rollout.apps.gate[2]"}},
			// The last batch is gated too: a bad last batch rolls back.
			{"rollout.apps.gate[3]", []string{`rollout.apps["app5"].restore`}},
			{"rollout.single.gate[1]", []string{`rollout.single["s1"].restore`}},
			{`rollout.single["s2"].drain`, []string{"rollout.single.gate[1]"}},
			{"rollout.single.gate[2]", []string{`rollout.single["s2"].restore`}},
			{"step.restore.after_gate", []string{"rollout.apps.gate[3]"}},
		}},
		{file: "rollout-defaults.hcl", steps: 3 * 4, waves: 2*4 + 4, deps: []depCase{
			// A set of targets rolls in its sorted order.
			{`rollout.web["web2"].drain`, []string{`rollout.web["web1"].restore`}},
			{`rollout.workers["w1"].drain`, []string{
				`rollout.web["web1"].deploy`, `rollout.web["web1"].drain`, `rollout.web["web1"].health_check`, `rollout.web["web1"].restore`,
				`rollout.web["web2"].deploy`, `rollout.web["web2"].drain`, `rollout.web["web2"].health_check`, `rollout.web["web2"].restore`,
			}},
		}},
		{file: "index-refs.hcl", steps: 9, waves: 3, deps: []depCase{
			{"step.deploy.computed_index", []string{"step.deploy.base"}},
			{"step.deploy.attr_index", []string{"step.deploy.base"}},
			{"step.deploy.name_index", []string{"step.deploy.base"}},
			{"step.deploy.all_index", []string{"step.deploy.base"}},
			{"step.health_check.pair_index", []string{`step.deploy.pair["a"]`}},
			{"step.health_check.listed", []string{"step.deploy.name_index", `step.deploy.pair["b"]`}},
		}},
		{file: "timeouts.hcl", steps: 3, waves: 3},
		{file: "no-plan-block.hcl", steps: 1, waves: 1},
		{file: "heredoc-and-exprs.hcl", steps: 1, waves: 1},
		{file: "folder-plan", steps: 6, waves: 6, deps: []depCase{
			{"step.drain.app1", []string{"step.restore.app2"}},
		}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			p, g, diags := load(t, filepath.Join("testdata/valid", c.file), dsl.Options{})
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			if len(p.Steps) != c.steps {
				t.Errorf("%d steps, want %d", len(p.Steps), c.steps)
			}
			if c.waves > 0 && len(g.Waves()) != c.waves {
				t.Errorf("%d waves, want %d: %q", len(g.Waves()), c.waves, waveAddrs(g))
			}
			for _, d := range c.deps {
				if got := deps(t, p, g, d.addr); strings.Join(got, " ") != strings.Join(d.want, " ") {
					t.Errorf("%s depends on\n  %q\nwant\n  %q", d.addr, got, d.want)
				}
			}
		})
	}
	for _, path := range plansIn(t, "testdata/valid") {
		if !covered[filepath.Base(path)] {
			t.Errorf("%s has no structural case in TestValidStructure", path)
		}
	}
}
