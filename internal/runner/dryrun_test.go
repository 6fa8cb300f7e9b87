package runner

import (
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// TestDryRunResult: a dry run has nothing to do only when no step would
// run; -detailed-exitcode's 0 versus 2 hangs on it.
func TestDryRunResult(t *testing.T) {
	two := &executor.Graph{Steps: []*dsl.Step{{Addr: "step.drain.a"}, {Addr: "step.deploy.a"}}}
	for _, tc := range []struct {
		name  string
		g     *executor.Graph
		skips []string
		want  bool
	}{
		{"no steps", &executor.Graph{}, nil, true},
		{"all up to date", two, []string{"a:3000 stays in rotation", "image and env are current"}, true},
		{"one runs", two, []string{"", "image and env are current"}, false},
		{"all run", two, []string{"", ""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dryRun(tc.g, tc.skips)
			if !r.DryRun || r.NothingToDo != tc.want || r.Outcome != nil {
				t.Errorf("got DryRun=%v NothingToDo=%v Outcome=%v, want NothingToDo=%v", r.DryRun, r.NothingToDo, r.Outcome, tc.want)
			}
		})
	}
}
