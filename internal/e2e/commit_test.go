package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// Issue #9: `plan apply` SIGKILLed right after each journal record in turn
// (PLAN_TEST_KILL_AFTER_RECORD, cmd/plan's test hook), then `plan
// rollback`. Whatever the record, the end state on the real engine and
// nginx is one of two, never a mix: before the commit record, everything
// as before (containers by ID, env, aliases, nginx.conf byte for byte);
// from the commit record on, everything at the new version, the old
// containers removed, and rollback says it finished the apply rather than
// undoing it.
func TestKilledAtEveryJournalRecord(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	plan := writePlanIn(t, topo, "every-record", seedPlanText(topo, seedPlanOptions{}))
	version, forward, back := "v1", 0, 0
	for n := 1; ; n++ {
		before := checkClean(t, cli, topo)
		next := fmt.Sprintf("r%d", n)
		vars := []string{"-var", "version=" + next}
		code, out := runPlanEnv(t, []string{"PLAN_TEST_KILL_AFTER_RECORD=" + strconv.Itoa(n)},
			append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
		if code == 0 {
			// n is past the apply's last record: it ran through.
			if n < 20 {
				t.Fatalf("apply ran through with a kill after record %d; the seed's apply writes more:\n%s", n, out)
			}
			serves(t, topo, next)
			break
		}
		if code != -1 {
			t.Fatalf("record %d: apply exited %d, want killed:\n%s", n, code, out)
		}
		entries := journal(stateDirOf(plan))
		if len(entries) != n {
			t.Fatalf("record %d: the journal holds %d records; the kill must come right after record %d", n, len(entries), n)
		}
		last := entries[n-1]
		committed := hasEntry(entries, executor.KindCommit, "")
		finished := last.Kind == executor.KindEnd

		_, status := runPlan(t, "status", plan)
		switch {
		case finished:
		case committed && !strings.Contains(status, "COMMITTED, UNFINISHED"):
			t.Errorf("record %d (%s): plan status does not say the apply committed:\n%s", n, last.Kind, status)
		case !committed && !strings.Contains(status, "UNFINISHED"):
			t.Errorf("record %d (%s): plan status does not say the apply is unfinished:\n%s", n, last.Kind, status)
		}

		code, out = runPlan(t, append(append([]string{"rollback"}, vars...), plan)...)
		if code != 0 {
			t.Fatalf("record %d (%s %s): plan rollback exited %d:\n%s", n, last.Kind, last.Step, code, out)
		}
		after := takeSnapshot(t, cli, topo)
		switch {
		case finished:
			if !strings.Contains(out, "Nothing to roll back") {
				t.Errorf("record %d (end): rollback after a finished apply:\n%s", n, out)
			}
			version = next
		case committed:
			if !strings.Contains(out, "had committed") || strings.Contains(out, "undone:") {
				t.Errorf("record %d (%s %s): rollback after the commit must finish the apply, not undo it:\n%s", n, last.Kind, last.Step, out)
			}
			version = next
			forward++
		default:
			if !strings.Contains(out, "Rolled back apply") {
				t.Errorf("record %d (%s %s): rollback output:\n%s", n, last.Kind, last.Step, out)
			}
			sameSnapshot(t, before, after)
			back++
		}
		// Either way: nginx.conf as before the apply (every server back in
		// rotation), no old container left, every app at one version.
		if after.Config != before.Config {
			t.Errorf("record %d (%s %s): nginx.conf differs from before the apply:\n%s", n, last.Kind, last.Step, after.Config)
		}
		if strings.Contains(strings.Join(after.Containers, " "), "nonstop-old") || len(after.Containers) != len(before.Containers) {
			t.Errorf("record %d (%s %s): containers %v", n, last.Kind, last.Step, after.Containers)
		}
		serves(t, topo, version)
		if _, st := runPlan(t, "status", plan); strings.Contains(st, "UNFINISHED") || strings.Contains(st, "STALE") {
			t.Errorf("record %d: plan status after the recovery:\n%s", n, st)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d kill points rolled back, %d rolled forward", back, forward)
	if back == 0 || forward == 0 {
		t.Errorf("every kill point ended the same way (%d back, %d forward): the commit point was not exercised", back, forward)
	}
}

// lineOf is the 1-based line of the first occurrence of s in text.
func lineOf(text, s string) int {
	i := strings.Index(text, s)
	if i < 0 {
		return -1
	}
	return strings.Count(text[:i], "\n") + 1
}

// Issue #10 item 5: a preflight problem about a step renders as validate
// renders a diagnostic: the plan file and line inside that step's block,
// and the source snippet.
func TestPreflightErrorHasSnippet(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	src := seedPlanText(topo, seedPlanOptions{})
	src = strings.Replace(src, `container  = "app2"`, `container  = "app2-nosuch"`, 1)
	plan := writePlanIn(t, topo, "preflight-snippet", src)
	code, out := runPlan(t, "apply", "-auto-approve", plan)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	from, to := lineOf(src, `step "deploy" "app2"`), lineOf(src, `step "health_check" "app2"`)
	found := false
	for l := from; l < to; l++ {
		if strings.Contains(out, fmt.Sprintf("plan.hcl line %d", l)) {
			found = true
		}
	}
	for _, w := range []string{"preflight found 1 problem(s); nothing was changed", "app2-nosuch", `step "deploy" "app2"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if !found {
		t.Errorf("the problem is not shown at a line of step.deploy.app2 (%d-%d):\n%s", from, to-1, out)
	}
	t.Logf("plan apply:\n%s", out)
}

// Issue #9: the lock covers what a plan changes, not only its folder. Two
// plans in two folders on one nginx config: while the first applies, the
// second is refused at once, naming the holder; with -lock-timeout it
// waits and then applies.
func TestTargetLockAcrossPlans(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	first := writePlanIn(t, topo, "target-a", seedPlanText(topo, seedPlanOptions{PreFor: 3 * time.Second}))
	second := writePlanIn(t, topo, "target-b", seedPlanText(topo, seedPlanOptions{}))
	p := startPlan(t, nil, "apply", "-auto-approve", "-var", "version=a", first)
	waitEntry(t, p, first, executor.KindIntent, "step.health_check.pre")
	code, out := runPlan(t, "apply", "-auto-approve", "-var", "version=b", second)
	if code != 1 || !strings.Contains(out, "is being changed by apply") || !strings.Contains(out, filepath.Base(filepath.Dir(first))) {
		t.Fatalf("the second plan (exit %d) was not refused naming the first:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(stateDirOf(second), "applies")); err == nil {
		t.Errorf("the refused plan wrote a journal")
	}
	q := startPlan(t, nil, "apply", "-auto-approve", "-lock-timeout", "3m", "-var", "version=b", second)
	if code, out := p.wait(t); code != 0 {
		t.Fatalf("the first apply exited %d:\n%s", code, out)
	}
	if code, out := q.wait(t); code != 0 {
		t.Fatalf("the second apply, waiting for the lock, exited %d:\n%s", code, out)
	}
	serves(t, topo, "b")
}
