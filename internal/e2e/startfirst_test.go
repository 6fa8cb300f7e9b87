package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// startFirstPlan writes the repository's plans/single-replica.hcl (app1,
// the upstream's only server, replaced start-first: deploy next to the old
// container, check the new one, switch) with app1's env replaced by env,
// and after, when set, appended (a step to fail after the switch).
func startFirstPlan(t *testing.T, topo *seedtopo.Topology, name, env, after string) string {
	t.Helper()
	const appEnv = `env       = { MESSAGE = "app1,${var.version}" }`
	p := seedPlan(t, topo, "single-replica.hcl", appEnv, "env       = "+env, `timeout           = "30s"`, `timeout           = "4s"`)
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return writePlanIn(t, topo, name, strings.ReplaceAll(string(src), `"proxy/nginx.conf"`, strconv.Quote(topo.ConfigPath))+after)
}

// Issue #5 item 11, the opt-in: a single-replica upstream is replaced
// with strategy = "start-first" and a switch, under POST load, without a
// single non-2xx answer; and each way it can fail rolls back to the old
// container (the same one, by ID) with nginx.conf byte-identical, again
// without a non-2xx answer.
func TestStartFirstSingleReplica(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{Replicas: 1, StopTimeout: 3 * time.Second})
	v2 := `{ MESSAGE = "app1,${var.version}" }`

	// The new version never becomes healthy: the switch never runs, nginx
	// never learns the new container, the old one never stopped serving.
	t.Run("broken version", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := startFirstPlan(t, topo, "sf-broken", `{ MESSAGE = "app1,${var.version}", FAIL = "1" }`, "")
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		expectRolledBack(t, cli, topo, before, l, code, out, "step.health_check.app1 failed", "step.deploy.app1", "rolled back")
	})

	// A step after the switch fails: the switch is undone (the old
	// container starts again and takes the requests through a detour, the
	// new one stops gracefully, the detour ends), then the deploy.
	t.Run("failure after the switch", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		after := `
step "health_check" "after" {
  container = "app1"
  http {
    port        = 3000
    expect_body = "never answered"
  }
  interval   = "200ms"
  timeout    = "2s"
  depends_on = [step.switch.app1]
}
`
		plan := startFirstPlan(t, topo, "sf-after", v2, after)
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		expectRolledBack(t, cli, topo, before, l, code, out,
			"app1:3000 now served by the new container", "step.health_check.after failed",
			"app1:3000 is served by the old container again")
	})

	t.Run("apply", func(t *testing.T) {
		checkClean(t, cli, topo)
		plan := startFirstPlan(t, topo, "sf-ok", v2, "")
		// validate is clean: no single-replica refusal, no lint warning.
		if code, out := runPlan(t, append([]string{"validate"}, append(seedVars(topo), plan)...)...); code != 0 || strings.Contains(out, "Warning") {
			t.Fatalf("validate (exit %d):\n%s", code, out)
		}
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		l.Stop()
		t.Logf("plan apply (exit %d):\n%s", code, out)
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		if n := l.non2xx.Load(); n != 0 {
			t.Errorf("%d non-2xx answers while the only replica was replaced, want 0: %v", n, l.samples)
		}
		for _, w := range []string{"next to the old container", "app1:3000 now served by the new container", "stopped once its requests were done"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		serves(t, topo, "v2")
		if names := projectContainers(t, cli, topo.Project); len(names) != 2 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
			t.Errorf("containers after apply: %v; want app1 and nginx, no leftovers", names)
		}
		// Applying again has nothing to do: the deploy is up to date and
		// no old container runs next to app1.
		code, out = runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		if code != 0 || !strings.Contains(out, "Nothing to do") {
			t.Errorf("second apply (exit %d) is not a no-op:\n%s", code, out)
		}
	})
}
