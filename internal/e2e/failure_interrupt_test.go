package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// Plans refused before any change (hostile values, outages, an engine that
// does not answer), Ctrl-C, a second apply, a Docker engine that goes away
// mid-apply and sensitive values, on one seed topology; every subtest but
// the last leaves it as it found it.
func TestFailureRefusalsAndInterruptions(t *testing.T) {
	t.Parallel() // with -parallel's bound (GOMAXPROCS), other failure tests run meanwhile
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	vars := []string{"-var", "version=v2"}
	apply := func(plan string) []string { return append(append([]string{"apply", "-auto-approve"}, vars...), plan) }

	refusedPlans(t, cli, topo)

	// Issue #5 item 8: the first SIGINT stops the apply and rolls back
	// what it did: exit 2, as before.
	t.Run("SIGINT rolls back", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "sigint", seedPlanText(topo, seedPlanOptions{}))
		p := startPlan(t, nil, apply(plan)...)
		waitEntry(t, p, plan, "done", "step.deploy.app2")
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 2 || !strings.Contains(out, "interrupt: stopping; completed steps will be rolled back") ||
			!strings.Contains(out, "things are as they were before the apply") {
			t.Errorf("exit %d, want 2 with the interruption and a clean rollback said", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		serves(t, topo, "v1")
	})

	// A second SIGINT stops the rollback: exit 3, and the output lists
	// what is still in place; `plan rollback` finishes the job. A request
	// in flight makes the first undo (re-draining app2) wait, so the
	// second signal lands in the middle of the rollback.
	t.Run("second SIGINT stops the rollback", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "sigint2", seedPlanText(topo, seedPlanOptions{}))
		p := startPlan(t, nil, apply(plan)...)
		waitEntry(t, p, plan, "done", "step.restore.app2")
		inflight := slowRequest(topo.URL, 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		waitEntry(t, p, plan, "undo", "step.restore.app2")
		time.Sleep(300 * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 3 {
			t.Errorf("exit %d, want 3 (rollback incomplete)", code)
		}
		for _, w := range []string{"stopping the rollback", "Still in place:", "step.deploy.app2", "step.drain.app2", "plan rollback " + plan} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		code, out = runPlan(t, "rollback", plan)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 0 {
			t.Errorf("plan rollback exit %d, want 0", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		serves(t, topo, "v1")
		if st := <-inflight; st != 200 {
			t.Errorf("the request in flight got %d, want 200", st)
		}
	})

	// Issue #5 item 9: a second apply on the same plan state refuses and
	// names the holder; unlock needs the right ID and a dead holder; a
	// dead holder's lock is reported stale.
	t.Run("two applies at once", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		src := fmt.Sprintf(`
step "health_check" "slow" {
  container = %q
  http {
    port = 3000
  }
  interval          = "250ms"
  healthy_threshold = 40
  timeout           = "60s"
}
`, topo.Apps[0].Container)
		plan := writePlanIn(t, topo, "lock", src)
		a := startPlan(t, nil, "apply", "-auto-approve", plan)
		waitEntry(t, a, plan, "intent", "step.health_check.slow")
		var id string
		for _, e := range journal(stateDirOf(plan)) {
			if e.Kind == executor.KindBegin {
				id = e.ApplyID
			}
		}
		host, _ := os.Hostname()
		holder := fmt.Sprintf("apply %s (pid %d on %s, started ", id, a.cmd.Process.Pid, host)
		expect := func(what string, wantCode int, args []string, want ...string) {
			t.Helper()
			code, out := runPlan(t, args...)
			if code != wantCode {
				t.Errorf("%s: exit %d, want %d:\n%s", what, code, wantCode, out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: output lacks %q:\n%s", what, w, out)
				}
			}
		}
		expect("second apply", 1, []string{"apply", "-auto-approve", plan}, "the plan's state is locked by "+holder)
		expect("rollback while it runs", 1, []string{"rollback", plan}, "locked by "+holder)
		expect("unlock while it runs", 1, []string{"unlock", id, plan}, "is still running")
		expect("status while it runs", 0, []string{"status", plan}, "Lock: "+holder, ", running")

		a.kill(t)
		expect("status after the kill", 0, []string{"status", plan}, "Lock: "+holder, "STALE", "UNFINISHED")
		expect("unlock with a wrong ID", 1, []string{"unlock", "20990101T000000Z-000000", plan}, "the lock's ID is "+id)
		expect("unlock", 0, []string{"unlock", id, plan}, "Lock removed")
		// Unlocked, but the journal still says the apply did not finish.
		expect("apply after unlock", 1, []string{"apply", "-auto-approve", plan}, "an unfinished apply exists: "+holder)
		expect("rollback", 0, []string{"rollback", plan}, "nothing to undo: step.health_check.slow (interrupted before it changed anything)")
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
	})

	// Issue #5 item 10, before any change: the engine does not answer at
	// all (the socket the plan is given is gone). Exit 1, a clear error,
	// nothing touched.
	t.Run("Docker engine unreachable before any change", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		px := startDockerProxy(t, cli)
		px.cut()
		plan := writePlanIn(t, topo, "engine-down", seedPlanText(topo, seedPlanOptions{}))
		code, out := runPlanEnv(t, []string{"DOCKER_HOST=" + px.Host()}, apply(plan)...)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range []string{"preflight found 1 problem(s); nothing was changed", "the engine at " + px.Host() + " (DOCKER_HOST) does not answer", "Is the Docker daemon running"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
	})

	// Issue #5 item 10, mid-apply: the engine goes away after app2 was
	// replaced and stays away. The health check cannot pass, the rollback
	// cannot reach the engine (it retries for a while): exit 3, naming
	// exactly what is left. Once the engine is back, `plan rollback`
	// finishes it.
	t.Run("Docker engine goes away mid-apply", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		px := startDockerProxy(t, cli)
		env := []string{"DOCKER_HOST=" + px.Host()}
		plan := writePlanIn(t, topo, "engine-gone", seedPlanText(topo, seedPlanOptions{HealthTimeout: "3s"}))
		p := startPlan(t, env, apply(plan)...)
		waitEntry(t, p, plan, "done", "step.deploy.app2")
		px.cut()
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 3 {
			t.Errorf("exit %d, want 3", code)
		}
		for _, w := range []string{"step.health_check.app2 failed", "Cannot connect to the Docker daemon", "Still in place: step.drain.app2, step.deploy.app2.", "plan rollback " + plan} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		px.resume(t)
		code, out = runPlanEnv(t, env, "rollback", plan)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 0 {
			t.Errorf("plan rollback exit %d, want 0", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		serves(t, topo, "v1")
	})

	// The engine is back within the rollback's wait (a daemon restart):
	// the rollback completes, exit 2.
	t.Run("Docker engine back during the rollback", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		px := startDockerProxy(t, cli)
		plan := writePlanIn(t, topo, "engine-back", seedPlanText(topo, seedPlanOptions{HealthTimeout: "3s"}))
		p := startPlan(t, []string{"DOCKER_HOST=" + px.Host()}, apply(plan)...)
		waitEntry(t, p, plan, "done", "step.deploy.app2")
		px.cut()
		waitEntry(t, p, plan, "undo", "step.deploy.app2")
		time.Sleep(2 * time.Second)
		px.resume(t)
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 2 || !strings.Contains(out, "the Docker engine does not answer; retrying") {
			t.Errorf("exit %d, want 2 after retrying", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		serves(t, topo, "v1")
	})

	// Issue #5 item 11, the general case: two drains that no restore
	// orders apart (one rollout batch) would take every server out.
	t.Run("drains that together take every server", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		src := fmt.Sprintf(`
docker "local" {
  compose_project = %q
}

nginx "proxy" {
  container = %q
  config    = %q
  upstream  = "apps"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["app2", "app1"]
  batch_size = 2
  server     = "${target}:3000"
  deploy {
    image = %q
    env   = { MESSAGE = "${target},v2" }
  }
  health_check {
    http {
      port = 3000
    }
  }
}
`, topo.Project, topo.NginxContainer, topo.ConfigPath, topo.Images.App)
		plan := writePlanIn(t, topo, "batch", src)
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range []string{`draining "app2:3000" would leave upstream "apps"`, `drained at the same time as app1:3000 (rollout.apps["app1"].drain)`, "batch_size"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
	})

	// Issue #5 item 13: a sensitive variable, used in a deploy's env and
	// in a health check, appears in no output (even at -log-level debug),
	// no journal, no status and no error message: on a failed apply, a
	// successful one and a re-run that has nothing to do. (It is in the
	// new container's env: that is the point.) Runs last: it leaves the
	// apps at a new version.
	t.Run("sensitive values are never shown", func(t *testing.T) {
		checkClean(t, cli, topo)
		const secret = "s3cr3t-T0KEN-e2e"
		vars := []string{"-var", "token=" + secret}
		extra := `
variable "token" {
  type      = string
  sensitive = true
}
`
		var outputs []string
		run := func(plan string, args ...string) (int, string) {
			code, out := runPlan(t, append(append([]string{args[0]}, args[1:]...), plan)...)
			outputs = append(outputs, out)
			return code, out
		}
		// Fails: app2's body never holds the token.
		failing := writePlanIn(t, topo, "secret-fail", strings.Replace(seedPlanText(topo, seedPlanOptions{
			Extra: extra, App2Env: `TOKEN = var.token`, HealthTimeout: "2s",
		}), `expect_body = "app2,${var.version}"`, `expect_body = "app2,${var.token}"`, 1))
		if code, out := run(failing, append([]string{"apply", "-auto-approve", "-log-level", "debug"}, vars...)...); code != 2 || !strings.Contains(out, "(sensitive)") {
			t.Errorf("failing apply: exit %d, want 2 with the expected body shown as (sensitive):\n%s", code, out)
		}
		ok := writePlanIn(t, topo, "secret-ok", seedPlanText(topo, seedPlanOptions{Extra: extra, App2Env: `TOKEN = var.token`}))
		for i := 0; i < 2; i++ { // applied, then nothing to do
			if code, out := run(ok, append([]string{"apply", "-auto-approve", "-log-level", "debug"}, vars...)...); code != 0 {
				t.Errorf("apply #%d: exit %d:\n%s", i+1, code, out)
			}
		}
		run(ok, "status")
		run(ok, append([]string{"show"}, vars...)...)
		run(failing, "status")
		for i, out := range outputs {
			if strings.Contains(out, secret) {
				t.Errorf("output %d shows the sensitive value:\n%s", i, out)
			}
		}
		for _, plan := range []string{failing, ok} {
			files, _ := filepath.Glob(filepath.Join(stateDirOf(plan), "*", "*"))
			more, _ := filepath.Glob(filepath.Join(stateDirOf(plan), "*"))
			for _, f := range append(files, more...) {
				if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), secret) {
					t.Errorf("%s holds the sensitive value", f)
				}
			}
			if len(files) == 0 {
				t.Errorf("no journal for %s", plan)
			}
		}
		if env := appContainer(t, cli, topo.Apps[1].Container).Config.Env; !slices.Contains(env, "TOKEN="+secret) {
			t.Errorf("the new app2 lacks its TOKEN: %v", env)
		}
	})
}
