package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestDryRunDetailedExitcode: on the seed topology, `apply -dry-run
// -detailed-exitcode` says changes are pending (exit 2) and changes
// nothing; once applied, the same dry run finds every step up to date
// (exit 0), as the live engine and nginx now are.
func TestDryRunDetailedExitcode(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	plan := writePlanIn(t, topo, "dryrun", seedPlanText(topo, seedPlanOptions{}))

	code, out := runPlan(t, "apply", "-dry-run", "-detailed-exitcode", plan)
	if code != 2 {
		t.Fatalf("dry run before apply: exit %d, want 2 (changes pending)\n%s", code, out)
	}
	for _, w := range []string{"step.deploy.app2", "will run", "Nothing was changed (-dry-run)", "to run"} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run before apply lacks %q:\n%s", w, out)
		}
	}
	// The dry run changed nothing: the seed still serves v1 on both.
	serves(t, topo, "v1")

	if code, out := runPlan(t, "apply", "-auto-approve", plan); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}

	code, out = runPlan(t, "apply", "-dry-run", "-detailed-exitcode", plan)
	if code != 0 || !strings.Contains(out, "Nothing to do") || strings.Contains(out, "will run") {
		t.Fatalf("dry run after apply: exit %d, want 0 with every step up to date\n%s", code, out)
	}
	code, out = runPlan(t, "apply", "-dry-run", "-detailed-exitcode", "-json", plan)
	if code != 0 {
		t.Fatalf("-json dry run after apply: exit %d\n%s", code, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type   string `json:"type"`
			Change struct{ Step, Action string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m.Type == "planned_change" {
			n++
			if m.Change.Action != "skip" {
				t.Errorf("%s: action %q after apply, want skip", m.Change.Step, m.Change.Action)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d planned_change messages, want one per step (8):\n%s", n, out)
	}
}
