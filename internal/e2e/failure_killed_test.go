package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// expectUnfinished checks what a user sees after an apply was killed: a
// new apply refuses, naming the unfinished apply (ID, host, pid, start),
// and `plan status` says it did not finish and whose lock is stale.
func expectUnfinished(t *testing.T, plan string, pid int, vars []string) {
	t.Helper()
	var id string
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind == executor.KindBegin {
			id = e.ApplyID
		}
	}
	host, _ := os.Hostname()
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
	if code != 1 {
		t.Errorf("a second apply exited %d, want 1:\n%s", code, out)
	}
	for _, w := range []string{"an unfinished apply exists", "apply " + id, fmt.Sprintf("pid %d on %s", pid, host), "started", "plan rollback"} {
		if !strings.Contains(out, w) {
			t.Errorf("the second apply's refusal lacks %q:\n%s", w, out)
		}
	}
	code, out = runPlan(t, "status", plan)
	if code != 0 || !strings.Contains(out, "UNFINISHED") || !strings.Contains(out, "STALE") {
		t.Errorf("plan status (exit %d) should report the unfinished apply and its stale lock:\n%s", code, out)
	}
}

// SIGKILL of `plan apply` at step boundaries and in the middle of steps
// (issue #5 item 7): the journal is all that is left, and it is enough.
// For each kill point: a new apply refuses and names the dead one; `plan
// rollback` (given the same -var flags a user would pass) restores the
// exact previous state; `plan apply` then works. The subtests share one
// topology, each leaving it as it found it.
func TestFailureKilled(t *testing.T) {
	t.Parallel() // with -parallel's bound (GOMAXPROCS), other failure tests run meanwhile
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	version, lastPlan := "v1", ""
	app2 := topo.Apps[1]

	for i, tc := range []struct {
		name string
		// prepare runs before the apply starts (requests in flight).
		prepare func(t *testing.T) <-chan int
		// at waits until the moment to kill.
		at func(t *testing.T, p *proc, plan string)
		// midStep is the step that must still be unfinished at the kill.
		midStep string
	}{
		{
			name: "after deploy, before its health check",
			at:   func(t *testing.T, p *proc, plan string) { waitEntry(t, p, plan, "done", "step.deploy.app2") },
		},
		{
			name: "between targets",
			at:   func(t *testing.T, p *proc, plan string) { waitEntry(t, p, plan, "done", "step.restore.app2") },
		},
		{
			// A request in flight keeps nginx's old workers, so the drain
			// is waiting for them when it is killed: app2 is marked down
			// and nginx reloaded, the step not done.
			name:    "mid-drain",
			prepare: func(t *testing.T) <-chan int { return slowRequest(topo.URL, 6*time.Second) },
			at: func(t *testing.T, p *proc, plan string) {
				waitEntry(t, p, plan, "checkpoint", "step.drain.app2")
				waitFor(t, "app2 marked down", 30*time.Second, p, func() bool {
					b, _ := os.ReadFile(topo.ConfigPath)
					return strings.Contains(string(b), "server app2:3000 down;")
				})
				time.Sleep(500 * time.Millisecond) // the reload is under way or done
			},
			midStep: "step.drain.app2",
		},
		{
			// A request in flight to the old app2 makes its graceful stop
			// last: the deploy is killed with the old container renamed,
			// the new one created and not started, the old one stopping.
			name: "mid-deploy",
			prepare: func(t *testing.T) <-chan int {
				ip := appContainer(t, cli, app2.Container).NetworkSettings.Networks[topo.Network].IPAddress
				return slowRequest("http://"+ip+":3000/", 7*time.Second)
			},
			at: func(t *testing.T, p *proc, plan string) {
				waitEntry(t, p, plan, "checkpoint", "step.deploy.app2")
				waitFor(t, "the old app2 renamed", 30*time.Second, p, func() bool {
					c, err := cli.ContainerInspect(context.Background(), app2.Container)
					return err == nil && c.ID != "" && c.State != nil && !c.State.Running
				})
				time.Sleep(300 * time.Millisecond)
			},
			midStep: "step.deploy.app2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := checkClean(t, cli, topo)
			plan := writePlanIn(t, topo, fmt.Sprintf("killed-%d", i), seedPlanText(topo, seedPlanOptions{}))
			next := fmt.Sprintf("k%d", i)
			vars := []string{"-var", "version=" + next}
			var inflight <-chan int
			if tc.prepare != nil {
				inflight = tc.prepare(t)
				time.Sleep(200 * time.Millisecond) // let it reach the app
			}
			p := startPlan(t, nil, append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
			tc.at(t, p, plan)
			out := p.kill(t)
			t.Logf("plan apply, killed:\n%s", out)
			entries := journal(stateDirOf(plan))
			if tc.midStep != "" && hasEntry(entries, "done", tc.midStep) {
				t.Fatalf("the kill came after %s finished; this case must kill it mid-step", tc.midStep)
			}

			expectUnfinished(t, plan, p.cmd.Process.Pid, vars)

			code, out := runPlan(t, append(append([]string{"rollback"}, vars...), plan)...)
			t.Logf("plan rollback (exit %d):\n%s", code, out)
			if code != 0 || !strings.Contains(out, "Rolled back apply") {
				t.Fatalf("plan rollback exit %d, want 0", code)
			}
			if tc.midStep != "" && !strings.Contains(out, "undone: "+tc.midStep) {
				t.Errorf("rollback did not undo the interrupted %s", tc.midStep)
			}
			sameSnapshot(t, before, takeSnapshot(t, cli, topo))
			serves(t, topo, version)
			if inflight != nil {
				if st := <-inflight; st != 200 {
					t.Errorf("the request in flight at the kill got %d, want 200", st)
				}
			}
			if code, out := runPlan(t, "status", plan); !strings.Contains(out, "rolled back") || strings.Contains(out, "STALE") {
				t.Errorf("plan status after the rollback (exit %d):\n%s", code, out)
			}

			// After the rollback, apply works again. The state is the same
			// as before every kill point (checked above), so once is
			// enough: after the last one, the hardest.
			if i < 3 {
				return
			}
			code, out = runPlan(t, append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
			if code != 0 {
				t.Fatalf("apply after the rollback exited %d:\n%s", code, out)
			}
			serves(t, topo, next)
			version, lastPlan = next, plan
		})
	}

	// Issue #5 item 12: the apply that just went through, run again,
	// changes nothing and says so: no container recreated, no reload.
	t.Run("re-running a finished apply", func(t *testing.T) {
		if lastPlan == "" {
			t.Skip("no apply went through")
		}
		before := checkClean(t, cli, topo)
		workers := nginxWorkers(t, cli, topo)
		plan := lastPlan
		journals, _ := filepath.Glob(filepath.Join(stateDirOf(plan), "applies", "*.jsonl"))
		code, out := runPlan(t, "apply", "-auto-approve", "-var", "version="+version, plan)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		for _, w := range []string{"nothing to do", "already runs", "with the plan's env"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		if w := nginxWorkers(t, cli, topo); !slices.Equal(w, workers) {
			t.Errorf("nginx workers %v, then %v: nginx was reloaded", workers, w)
		}
		if after, _ := filepath.Glob(filepath.Join(stateDirOf(plan), "applies", "*.jsonl")); len(after) != len(journals) {
			t.Errorf("a journal was written for an apply that had nothing to do")
		}
	})

	// The same, when only part of the plan is already done: app2 runs
	// the plan's image and env, app1 does not. app2 is left alone (not
	// drained, not recreated); app1 is rolled.
	t.Run("re-running a partly done apply", func(t *testing.T) {
		if lastPlan == "" {
			t.Skip("no apply went through")
		}
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "partly", seedPlanText(topo, seedPlanOptions{App2EnvExpr: fmt.Sprintf(`{ MESSAGE = "app2,%s" }`, version)}))
		code, out := runPlan(t, "apply", "-auto-approve", "-var", "version=p1", plan)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		for _, w := range []string{"skipped: nothing to deploy behind it", "skipped: " + "app2 already runs"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		after := takeSnapshot(t, cli, topo)
		if after.Apps["app2"].ID != before.Apps["app2"].ID {
			t.Errorf("app2 was recreated")
		}
		if after.Apps["app1"].ID == before.Apps["app1"].ID {
			t.Errorf("app1 was not recreated")
		}
		got := answers(t, topo, 8)
		if got["Hi there, I love ! app2,"+version] == 0 || got["Hi there, I love ! app1,p1"] == 0 || len(got) != 2 {
			t.Errorf("nginx answers %v; want app2,%s and app1,p1", got, version)
		}
	})
}
