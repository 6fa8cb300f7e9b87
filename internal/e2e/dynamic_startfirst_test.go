package e2e

// A start-first deploy of a single replica on the reload-free backend:
// plans/single-replica.hcl with mode = "dynamic", applied by the plan
// binary against the seed (one app) with nginx from the Lua image, under
// keep-alive POST load; its switch detours through the Lua balancer's
// state, never a reload.

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	iload "github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bench"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// dynamicStartFirstPlan is startFirstPlan's plan with its nginx block in
// mode = "dynamic" on the Lua nginx's config (topo.ConfigPath).
func dynamicStartFirstPlan(t *testing.T, topo *seedtopo.Topology, name, env, after string) string {
	t.Helper()
	const appEnv = `env       = { MESSAGE = "app1,${var.version}" }`
	const ups = `  upstream  = "apps"
}`
	p := seedPlan(t, topo, "single-replica.hcl", appEnv, "env       = "+env, `timeout           = "30s"`, `timeout           = "4s"`,
		ups, `  upstream      = "apps"
  mode          = "dynamic"
  drain_timeout = "10s"
}`)
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return writePlanIn(t, topo, name, strings.ReplaceAll(string(src), `"proxy/nginx.conf"`, strconv.Quote(topo.ConfigPath))+after)
}

// postLoad starts keep-alive POST load on url.
func postLoad(t *testing.T, url string) *iload.Run {
	t.Helper()
	o := iload.NewOptions(url)
	o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("ping"), 4, 3*time.Minute
	o.Header = http.Header{"Content-Type": {"text/plain"}}
	run, err := iload.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestDynamicStartFirstSingleReplica: the only replica replaced
// start-first with mode = "dynamic": under keep-alive POST load, 0 non-2xx
// and 0 transport errors, nginx never reloads (same workers), nginx.conf
// byte-identical, no "reload" claim printed, and the state ends with the
// server at the new container's address and no detour peer left; a
// failure after the switch rolls back to the old container (same ID) with
// 0 failed requests too.
func TestDynamicStartFirstSingleReplica(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{Replicas: 1, StopTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	state, err := bench.DynamicNginx(ctx, cli, topo, "../..", nil)
	cancel()
	if err != nil {
		t.Fatalf("nginx with Lua: %v", err)
	}
	s := &dynamicSeed{Topology: topo, cli: cli, state: state}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx logs:\n%s", containerLogs(cli, topo.NginxContainer))
		}
	})
	serves(t, topo, "v1")
	workers := nginxWorkers(t, cli, topo)
	v2 := `{ MESSAGE = "app1,${var.version}" }`
	// only checks the state: app1:3000 alone (no detour peer left), up at
	// app1's container's address.
	only := func(t *testing.T) {
		t.Helper()
		m := s.membership(t)
		if want := "up " + s.appIP(t, topo.Apps[0].Container) + ":3000"; len(m) != 1 || m["app1:3000"] != want {
			t.Errorf("state %v: want only app1:3000 = %q", m, want)
		}
	}
	noFailures := func(t *testing.T, rep iload.Report) {
		t.Helper()
		t.Logf("load: %d keep-alive POSTs, %d non-2xx, %d transport errors (%s)", rep.Requests, rep.Non2xx, rep.TransportErrors, rep.Kinds())
		if rep.Requests < 50 || rep.Non2xx != 0 || rep.TransportErrors != 0 {
			t.Errorf("under keep-alive POST load: %d requests, %d non-2xx, %d transport errors; want 0 failed", rep.Requests, rep.Non2xx, rep.TransportErrors)
		}
		if now := nginxWorkers(t, cli, topo); !slices.Equal(now, workers) {
			t.Errorf("nginx workers went from %v to %v: nginx reloaded (want 0 reloads)", workers, now)
		}
	}

	// A step after the switch fails: the switch is undone through the
	// Lua state (the old container back, the new one drained and
	// stopped), then the deploy.
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
		plan := dynamicStartFirstPlan(t, topo, "dsf-after", v2, after)
		run := postLoad(t, topo.URL)
		code, out := runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		noFailures(t, run.Stop())
		expectRolledBack(t, cli, topo, before, nil, code, out,
			"app1:3000 now served by the new container", "step.health_check.after failed",
			"app1:3000 is served by the old container again")
		only(t)
	})

	t.Run("apply", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := dynamicStartFirstPlan(t, topo, "dsf-ok", v2, "")
		if code, out := runPlan(t, append([]string{"validate"}, append(seedVars(topo), plan)...)...); code != 0 || strings.Contains(out, "Warning") {
			t.Fatalf("validate (exit %d):\n%s", code, out)
		}
		run := postLoad(t, topo.URL)
		code, out := runPlan(t, append([]string{"apply", "-auto-approve"}, append(seedVars(topo), plan)...)...)
		rep := run.Stop()
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		noFailures(t, rep)
		for _, w := range []string{"next to the old container", "app1:3000 now served by the new container", "stopped once its requests were done"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		if strings.Contains(strings.ToLower(out), "reload") {
			t.Errorf("output claims a reload; this backend never reloads")
		}
		if after := takeSnapshot(t, cli, topo); after.Config != before.Config {
			t.Errorf("nginx.conf changed:\n%s", after.Config)
		}
		serves(t, topo, "v2")
		only(t)
		if names := projectContainers(t, cli, topo.Project); len(names) != 2 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
			t.Errorf("containers after apply: %v; want app1 and nginx, no leftovers", names)
		}
	})
}
