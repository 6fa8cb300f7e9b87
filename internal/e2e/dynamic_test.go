package e2e

// The reload-free backend end to end (issue #14): plans/rolling-update-
// dynamic.hcl applied by the plan binary against the seed's topology with
// nginx from the Lua image, under keep-alive POST load; and the failures
// of the reload path's tests: an unhealthy version rolled back, plan
// SIGKILLed mid-drain then `plan rollback`, nginx restarted mid-apply.

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nonstop-deploy/nonstop/executor"
	iload "github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestDynamicRollingUpdateUnderLoad: the shipped plan rolls both apps with
// 0 non-2xx and 0 transport errors under keep-alive POST load, nginx never
// reloads (same worker processes), nginx.conf stays byte-identical, and the
// membership nginx ends with points at the new containers' addresses.
func TestDynamicRollingUpdateUnderLoad(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	s := startDynamicSeed(t, cli)
	before, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	workers := nginxWorkers(t, cli, s.Topology)

	o := iload.NewOptions(s.URL)
	o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("ping"), 4, 3*time.Minute
	o.Header = http.Header{"Content-Type": {"text/plain"}}
	run, err := iload.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(s.Topology)...), s.plan)...)
	rep := run.Stop()
	t.Logf("plan apply (exit %d):\n%s", code, out)
	t.Logf("load: %d keep-alive POSTs, %d non-2xx, %d transport errors (%s)", rep.Requests, rep.Non2xx, rep.TransportErrors, rep.Kinds())
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	if rep.Requests < 100 || rep.Non2xx != 0 || rep.TransportErrors != 0 {
		t.Errorf("under keep-alive POST load: %d requests, %d non-2xx, %d transport errors; want 0 failed", rep.Requests, rep.Non2xx, rep.TransportErrors)
	}
	if now := nginxWorkers(t, cli, s.Topology); !slices.Equal(now, workers) {
		t.Errorf("nginx workers went from %v to %v: nginx reloaded (want 0 reloads)", workers, now)
	}
	if after, _ := os.ReadFile(s.ConfigPath); string(after) != string(before) {
		t.Errorf("nginx.conf changed:\n%s", after)
	}
	serves(t, s.Topology, "v2")
	m := s.membership(t)
	for _, a := range s.Apps {
		if want := "up " + s.appIP(t, a.Container) + ":3000"; m[a.Service+":3000"] != want {
			t.Errorf("state of %s: %q, want %q (the new container's address)", a.Service, m[a.Service+":3000"], want)
		}
	}
}

// TestDynamicFailures: the reload path's failure cases on the reload-free
// backend, one topology, each case leaving it as it found it.
func TestDynamicFailures(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	s := startDynamicSeed(t, cli)
	vars := seedVars(s.Topology)
	workers := nginxWorkers(t, cli, s.Topology)
	allUp := func(t *testing.T) {
		t.Helper()
		m := s.membership(t)
		for _, a := range s.Apps {
			if !strings.HasPrefix(m[a.Service+":3000"], "up "+s.appIP(t, a.Container)+":") {
				t.Errorf("membership %v: want %s up at its container's address", m, a.Service)
			}
		}
	}

	t.Run("unhealthy version rolls back", func(t *testing.T) {
		before := takeSnapshot(t, cli, s.Topology)
		plan := seedPlan(t, s.Topology, "rolling-update-dynamic.hcl",
			`expect_body = "${target},${var.version}"`, `expect_body = "never"`,
			`timeout           = "30s"`, `timeout           = "3s"`)
		code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, vars...), "-var", "version=v3", plan)...)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 2 {
			t.Fatalf("apply of an unhealthy version exited %d, want 2 (rolled back)", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, s.Topology))
		allUp(t)
		serves(t, s.Topology, "v1")
	})

	t.Run("killed mid-drain then plan rollback", func(t *testing.T) {
		before := takeSnapshot(t, cli, s.Topology)
		// Slow requests until one is in flight on app2 (the Lua side
		// counts it), so that its drain waits.
		var slow []<-chan int
		for len(slow) < 8 && s.inFlight(t, "app2:3000") == 0 {
			slow = append(slow, slowRequest(strings.TrimSuffix(s.URL, "/")+"/", 8*time.Second))
			time.Sleep(200 * time.Millisecond)
		}
		if s.inFlight(t, "app2:3000") == 0 {
			t.Fatalf("no slow request reached app2")
		}
		p := startPlan(t, nil, append(append([]string{"apply", "-auto-approve"}, vars...), s.plan)...)
		waitFor(t, "app2 marked down", 90*time.Second, p, func() bool {
			return strings.HasPrefix(s.membership(t)["app2:3000"], "down")
		})
		time.Sleep(300 * time.Millisecond) // well into the drain
		out := p.kill(t)
		t.Logf("plan apply, killed mid-drain:\n%s", out)
		if stepEntry(s.plan, executor.KindDone, "app2", "drain") {
			t.Fatalf("the drain of app2 finished with a request in flight: the kill came too late")
		}
		code, out := runPlan(t, append(append([]string{"rollback"}, vars...), s.plan)...)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("plan rollback exit %d, want 0", code)
		}
		for _, ch := range slow {
			if st := <-ch; st != 200 {
				t.Errorf("a request in flight during the drain got %d, want 200", st)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, s.Topology))
		allUp(t)
		serves(t, s.Topology, "v1")
	})

	t.Run("nginx restarted mid-apply keeps the membership", func(t *testing.T) {
		plan := seedPlan(t, s.Topology, "rolling-update-dynamic.hcl", `healthy_threshold = 2`, `healthy_threshold = 30`)
		p := startPlan(t, nil, append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
		waitFor(t, "app2 deployed", 90*time.Second, p, func() bool { return stepEntry(plan, executor.KindDone, "app2", "deploy") })
		timeout := 5
		if err := cli.ContainerRestart(context.Background(), s.NginxContainer, container.StopOptions{Timeout: &timeout}); err != nil {
			t.Fatal(err)
		}
		s.refreshURL(t)
		// The new app2 (v2) is running but not yet healthy enough to be
		// put back: a restarted nginx that lost the membership would
		// balance to it again over its server lines.
		got := map[string]int{}
		deadline := time.Now().Add(30 * time.Second)
		for n := 0; n < 10 && time.Now().Before(deadline); {
			body, err := s.Get(context.Background())
			if err != nil { // nginx is still starting
				time.Sleep(50 * time.Millisecond)
				continue
			}
			got[strings.TrimSpace(body)]++
			n++
		}
		t.Logf("after the restart nginx answers %v", got)
		if stepEntry(plan, executor.KindDone, "app2", "restore") {
			t.Fatalf("app2 was restored before nginx answered again: the check proves nothing (raise healthy_threshold)")
		}
		if got["Hi there, I love ! app1,v1"] == 0 || len(got) != 1 {
			t.Errorf("after the restart, with app2 down, nginx answers %v; want only app1,v1", got)
		}
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("apply exit %d, want 0", code)
		}
		serves(t, s.Topology, "v2")
		allUp(t)
	})
	if now := nginxWorkers(t, cli, s.Topology); len(now) != len(workers) {
		t.Errorf("nginx runs workers %v after the restart, want %d", now, len(workers))
	}
}

// TestDynamicPreflightRefusesPlainNginx: mode = "dynamic" against the
// seed's nginx without the snippet is refused before any change, naming
// what is missing and the command that prints it.
func TestDynamicPreflightRefusesPlainNginx(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	plan := seedPlan(t, topo, "rolling-update-dynamic.hcl", `"proxy-dynamic/nginx.conf"`, `"proxy/nginx.conf"`)
	before := takeSnapshot(t, cli, topo)
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), plan)...)
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (refused before any change)", code)
	}
	for _, want := range []string{"does not run the reload-free balancer", `require("nonstop").balance("apps")`, "plan nginx-snippet -upstream apps"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q", want)
		}
	}
	sameSnapshot(t, before, takeSnapshot(t, cli, topo))
}
