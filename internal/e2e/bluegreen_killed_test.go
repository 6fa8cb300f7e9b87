package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// `plan apply` of the blue/green SIGKILLed right after each journal record
// of the cut-over in turn (its intent, each checkpoint, its done) and
// right after the commit, then `plan rollback` (PLAN_TEST_KILL_AFTER_RECORD,
// cmd/plan's test hook). Before the commit the end state is exactly the
// one before the apply: blue serves, green's containers are the ones it
// had, nginx.conf byte for byte. From the commit on, the apply is
// finished (green serves the new version), and a second rollback flips
// back to blue in one reload.
func TestBlueGreenKilledAtEveryCutoverRecord(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startBlueGreen(t, cli)
	blue := topo.Blue()
	plan := bgPlan(t, topo, "killed-every-record")
	apply := func(version string) []string {
		return append(append([]string{"apply", "-auto-approve", "-var", "version=" + version}, seedVars(topo)...), plan)
	}

	// One apply that runs through, to find the cut-over's records, then
	// its flip back: blue live again, green at r0.
	if code, out := runPlan(t, apply("r0")...); code != 0 {
		t.Fatalf("apply exit %d:\n%s", code, out)
	}
	entries := journal(stateDirOf(plan))
	first, commit := -1, -1
	for i, e := range entries {
		if e.Step == "blue_green.apps.cutover" && first < 0 {
			first = i + 1
		}
		if e.Kind == executor.KindCommit {
			commit = i + 1
		}
	}
	if first < 0 || commit < first {
		t.Fatalf("no cut-over before the commit in the journal: %v", entries)
	}
	if code, out := runPlan(t, "rollback", plan); code != 0 || !strings.Contains(out, "Flipped back") {
		t.Fatalf("rollback exit %d:\n%s", code, out)
	}

	var kinds []string
	for n := first; n <= commit; n++ {
		before := takeSnapshot(t, cli, topo)
		next := fmt.Sprintf("r%d", n)
		code, out := runPlanEnv(t, []string{"PLAN_TEST_KILL_AFTER_RECORD=" + strconv.Itoa(n)}, apply(next)...)
		if code != -1 {
			t.Fatalf("record %d: apply exited %d, want killed:\n%s", n, code, out)
		}
		got := journal(stateDirOf(plan))
		if len(got) != n {
			t.Fatalf("record %d: the journal holds %d records, want %d", n, len(got), n)
		}
		last := got[n-1]
		kinds = append(kinds, last.Kind)
		code, out = runPlan(t, "rollback", plan)
		t.Logf("record %d (%s %s): plan rollback (exit %d):\n%s", n, last.Kind, last.Step, code, out)
		if code != 0 {
			t.Fatalf("record %d: plan rollback exited %d", n, code)
		}
		if last.Kind != executor.KindCommit {
			if !strings.Contains(out, "Rolled back apply") {
				t.Errorf("record %d (%s): rollback did not undo the apply", n, last.Kind)
			}
			sameSnapshot(t, before, takeSnapshot(t, cli, topo))
			servesColour(t, topo, blue, "v1")
			continue
		}
		// Killed right after the commit: rollback finishes the apply,
		// and a second one flips back.
		if !strings.Contains(out, "had committed") {
			t.Errorf("record %d (commit): rollback must finish the apply", n)
		}
		servesColour(t, topo, topo.Green(), next)
		code, out = runPlan(t, "rollback", plan)
		if code != 0 || !strings.Contains(out, "Flipped back") {
			t.Errorf("rollback after the finished apply (exit %d) must flip back:\n%s", code, out)
		}
		after := takeSnapshot(t, cli, topo)
		if after.Config != before.Config {
			t.Errorf("nginx.conf after the flip back differs from before the apply:\n%s", after.Config)
		}
		servesColour(t, topo, blue, "v1")
	}
	t.Logf("killed after: %v", kinds)
	if !slices.Contains(kinds, executor.KindCheckpoint) {
		t.Errorf("no kill after a checkpoint of the cut-over: %v", kinds)
	}
}
