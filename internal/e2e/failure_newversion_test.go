package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// checkClean fails a subtest at once if an earlier one left the shared
// topology changed: every app answering v1, no leftover container.
func checkClean(t *testing.T, cli client.APIClient, topo *seedtopo.Topology) snapshot {
	t.Helper()
	s := takeSnapshot(t, cli, topo)
	if len(s.Containers) != len(topo.Apps)+1 || strings.Contains(strings.Join(s.Containers, " "), "nonstop-old") {
		t.Fatalf("an earlier subtest left the topology changed: %v", s.Containers)
	}
	return s
}

// expectRolledBack runs a failing apply (already started as p, or now) and
// checks the outcome of issue #5's "same as 1": exit 2, everything as
// before (the same containers by ID, image, env and aliases, nginx.conf
// byte for byte, no leftover), the old version answering, and, with load,
// not one non-2xx answer.
func expectRolledBack(t *testing.T, cli client.APIClient, topo *seedtopo.Topology, before snapshot, l *load, code int, out string, want ...string) {
	t.Helper()
	if l != nil {
		l.Stop()
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if n := l.non2xx.Load(); n != 0 {
			t.Errorf("%d non-2xx answers during the apply and its rollback, want 0: %v", n, l.samples)
		}
	}
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 2 {
		t.Errorf("exit code %d, want 2 (failed and rolled back)", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	sameSnapshot(t, before, takeSnapshot(t, cli, topo))
	serves(t, topo, "v1")
}

// addInclude inserts an include of a file that does not exist into the
// http block of nginx.conf, as an operator's unrelated edit might, and
// returns the edited bytes; the test puts the original back when it ends.
func addInclude(t *testing.T, topo *seedtopo.Topology, orig string) string {
	t.Helper()
	i := strings.LastIndex(orig, "}")
	edited := orig[:i] + "    include /etc/nginx/nonstop-missing.conf;\n" + orig[i:]
	// In place, like every writer of a bind-mounted file must.
	if err := os.WriteFile(topo.ConfigPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(topo.ConfigPath, []byte(orig), 0o644); err != nil {
			t.Error(err)
		}
	})
	return edited
}

// Faults of the new version and of nginx, on one seed topology: each
// subtest must leave it as it found it (that is what it asserts).
func TestFailureNewVersion(t *testing.T) {
	t.Parallel() // with -parallel's bound (GOMAXPROCS), other failure tests run meanwhile
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})

	// Issue #5 item 2: app2's new version passes its health check, then
	// crashes (CRASH_AFTER) while app1 is being checked, before app2 is
	// put back. The restore finds app2's name resolves to no running
	// container and refuses before any reload; everything rolls back.
	t.Run("crashes after healthy, before restore", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "crash", seedPlanText(topo, seedPlanOptions{App2Env: `CRASH_AFTER = "3s"`, SteadyFor: 5 * time.Second}))
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		expectRolledBack(t, cli, topo, before, l, code, out,
			"step.health_check.app2", "healthy after", // it did pass its check
			"step.restore.app2 failed", `host "app2" does not resolve`, "refusing to put \"app2:3000\" back")
		if strings.Contains(out, "nginx -t failed") {
			t.Errorf("the unresolvable host reached nginx -t; it must be caught before:\n%s", out)
		}
	})

	// Later still: app2's new version crashes after it is back in
	// rotation, while app1 waits its turn. app1's drain cannot pass
	// `nginx -t` (nginx resolves every upstream host, and app2's name
	// resolves to nothing), so the apply rolls back; the undo of app2's
	// restore cannot reload nginx either, and there is nothing to drain
	// from a dead container, so it leaves the line; once the old app2 is
	// back, the drain's undo reloads nginx, which then resolves app2 to
	// it. Exit 2, everything as before, both apps answering. (No load:
	// requests in flight when a process crashes are lost, and nginx does
	// not retry a POST; that is the crash, not the rollback.)
	t.Run("crashes after it is restored", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "crash-late", seedPlanText(topo, seedPlanOptions{App2Env: `CRASH_AFTER = "4s"`, BetweenFor: 8 * time.Second}))
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		expectRolledBack(t, cli, topo, before, nil, code, out,
			"step.restore.app2", "step.drain.app1 failed", `host not found in upstream "app2:3000"`,
			"app2:3000 no longer resolves", "nginx reloaded: it resolves every upstream host again")
	})

	// Issue #5 item 4: the new app2 is healthy but no longer reachable by
	// its name on nginx's network (here: disconnected from it) when it
	// would be restored: refused before reload, naming the host.
	t.Run("restored host does not resolve", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := writePlanIn(t, topo, "unresolvable", seedPlanText(topo, seedPlanOptions{SteadyFor: 3 * time.Second}))
		p := startPlan(t, nil, "apply", "-auto-approve", plan)
		waitEntry(t, p, plan, "done", "step.health_check.app2")
		if err := cli.NetworkDisconnect(context.Background(), topo.Network, topo.Apps[1].Container, true); err != nil {
			t.Fatalf("disconnecting the new app2: %v", err)
		}
		code, out := p.wait(t)
		expectRolledBack(t, cli, topo, before, nil, code, out,
			"step.restore.app2 failed", `host "app2" does not resolve`, "nothing was changed")
	})

	// Issue #5 item 3, found by preflight: the config nginx would load is
	// already broken (an include of a missing file): exit 1 with nginx's
	// own message, nothing touched, nginx not reloaded.
	t.Run("nginx rejects the config before apply", func(t *testing.T) {
		checkClean(t, cli, topo)
		edited := addInclude(t, topo, takeSnapshot(t, cli, topo).Config)
		before := takeSnapshot(t, cli, topo)
		workers := nginxWorkers(t, cli, topo)
		plan := writePlanIn(t, topo, "rejected-before", seedPlanText(topo, seedPlanOptions{}))
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit code %d, want 1 (nothing changed)", code)
		}
		for _, w := range []string{"preflight found", "nothing was changed", "nginx -t failed", `open() "/etc/nginx/nonstop-missing.conf" failed`} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		after := takeSnapshot(t, cli, topo)
		sameSnapshot(t, before, after)
		if after.Config != edited {
			t.Errorf("nginx.conf changed")
		}
		if w := nginxWorkers(t, cli, topo); !slices.Equal(w, workers) {
			t.Errorf("nginx workers %v, then %v: nginx was reloaded", workers, w)
		}
	})

	// Issue #5 item 3, after preflight: the config is broken while the
	// apply runs, before its first nginx change. The drain's `nginx -t`
	// fails: the edit is taken back (the file is byte for byte what it was
	// just before), nothing is reloaded, exit 2 with nginx's message.
	t.Run("nginx rejects the config after preflight", func(t *testing.T) {
		checkClean(t, cli, topo)
		orig := takeSnapshot(t, cli, topo).Config
		workers := nginxWorkers(t, cli, topo)
		plan := writePlanIn(t, topo, "rejected-after", seedPlanText(topo, seedPlanOptions{PreFor: 2 * time.Second}))
		p := startPlan(t, nil, "apply", "-auto-approve", plan)
		waitEntry(t, p, plan, "intent", "step.health_check.pre")
		edited := addInclude(t, topo, orig)
		before := takeSnapshot(t, cli, topo)
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 && code != 2 {
			t.Errorf("exit code %d, want 1 or 2", code)
		}
		for _, w := range []string{"step.drain.app2 failed", "nginx -t failed", `open() "/etc/nginx/nonstop-missing.conf" failed`, "the config was restored"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		after := takeSnapshot(t, cli, topo)
		sameSnapshot(t, before, after)
		if after.Config != edited {
			t.Errorf("nginx.conf is not what it was before the drain")
		}
		if w := nginxWorkers(t, cli, topo); !slices.Equal(w, workers) {
			t.Errorf("nginx workers %v, then %v: nginx was reloaded", workers, w)
		}
	})
}
