package e2e

// Blue/green (plans/blue-green.hcl) on the reload-free backend (issue #14
// item 1): the seed's two-colour topology behind nginx from the Lua image
// (bench.DynamicNginx) with mode = "dynamic" in the plan, applied and
// rolled back under keep-alive POST load, with nginx never reloading and
// nginx.conf never edited.

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	iload "github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bench"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// startBlueGreenDynamic starts the two-colour topology, replaces its nginx
// by the Lua one (one server line per app, generated from
// plans/proxy-dynamic/nginx.conf), marks green's lines down there and
// reloads once (setup, before anything is measured), so that blue serves
// and the first membership, before any state file exists, is the config's.
// It returns the plan: plans/blue-green.hcl with the dynamic config and
// mode = "dynamic", as a user would switch it.
func startBlueGreenDynamic(t *testing.T, cli client.APIClient) (*dynamicSeed, string) {
	t.Helper()
	topo := startBlueGreen(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	state, err := bench.DynamicNginx(ctx, cli, topo, filepath.Join("..", ".."), nil)
	if err != nil {
		t.Fatalf("nginx with Lua: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx logs:\n%s", containerLogs(cli, topo.NginxContainer))
		}
	})
	if err := topo.IdleGreen(ctx); err != nil {
		t.Fatalf("marking green down in the Lua nginx: %v", err)
	}
	plan := seedPlan(t, topo, "blue-green.hcl",
		`config        = "proxy/nginx.conf"`, `config        = "proxy-dynamic/nginx.conf"`,
		`drain_timeout = "30s"`, "mode          = \"dynamic\"\n  drain_timeout = \"30s\"")
	return &dynamicSeed{Topology: topo, cli: cli, state: state}, plan
}

// colourState checks the state file the Lua side balances from: the live
// apps up at their containers' current addresses, the idle ones down.
func colourState(t *testing.T, s *dynamicSeed, live, idle []seedtopo.App) {
	t.Helper()
	m := s.membership(t)
	for _, a := range live {
		if want := "up " + s.appIP(t, a.Container) + ":3000"; m[a.Server] != want {
			t.Errorf("state of %s: %q, want %q (membership %v)", a.Server, m[a.Server], want, m)
		}
	}
	for _, a := range idle {
		if !strings.HasPrefix(m[a.Server], "down ") {
			t.Errorf("state of %s: %q, want down (membership %v)", a.Server, m[a.Server], m)
		}
	}
}

// underKeepAliveLoad runs plan with args while 4 keep-alive clients POST
// through nginx, watching nginx's worker generations; it fails the test on
// any non-2xx answer or transport error, and on any worker process that
// was not running before (a reload starts new ones).
func underKeepAliveLoad(t *testing.T, cli client.APIClient, topo *seedtopo.Topology, args ...string) (int, string) {
	t.Helper()
	workers := liveWorkers(t, cli, topo.NginxContainer) // bluegreen_backup_test.go
	if len(workers) == 0 {
		t.Fatalf("nginx runs no worker process")
	}
	gens := watchGenerations(cli, topo.NginxContainer)
	o := iload.NewOptions(topo.URL)
	o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("ping"), 4, 3*time.Minute
	o.Header = http.Header{"Content-Type": {"text/plain"}}
	run, err := iload.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	code, out := runPlan(t, args...)
	rep := run.Stop()
	gens.reloads(t)
	t.Logf("plan %s (exit %d):\n%s", args[0], code, out)
	t.Logf("load: %d keep-alive POSTs, %d non-2xx, %d transport errors (%s)", rep.Requests, rep.Non2xx, rep.TransportErrors, rep.Kinds())
	if rep.Requests < 20 || rep.Non2xx != 0 || rep.TransportErrors != 0 {
		t.Errorf("plan %s under keep-alive POST load: %d requests, %d non-2xx, %d transport errors; want 0 failed", args[0], rep.Requests, rep.Non2xx, rep.TransportErrors)
	}
	for _, p := range gens.pids {
		if !slices.Contains(workers, p) {
			t.Errorf("nginx worker %s appeared during plan %s (workers before: %v, seen: %v): nginx reloaded, want 0 reloads", p, args[0], workers, gens.pids)
			break
		}
	}
	return code, out
}

// The blue/green cut-over on the reload-free backend: apply deploys green
// and cuts over under keep-alive POST load with 0 failed requests, 0
// reloads, nginx.conf byte-identical, blue's containers untouched, the
// first cut-over made before any state file exists; the next dry run reads
// green as live from the state although nginx.conf still marks it down;
// `plan rollback` after the finished apply flips back to blue the same way.
func TestBlueGreenDynamicUnderLoad(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	s, plan := startBlueGreenDynamic(t, cli)
	topo := s.Topology
	blue, green := topo.Blue(), topo.Green()
	vars := seedVars(topo)
	servesColour(t, topo, blue, "v1")
	conf, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	sameConf := func(when string) {
		t.Helper()
		if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(conf) {
			t.Errorf("nginx.conf changed %s:\n%s", when, after)
		}
	}

	// No state file yet: the live colour is read from the membership as
	// the config's down lines give it before the first change.
	if _, err := os.Stat(filepath.Join(s.state, "apps.state")); !os.IsNotExist(err) {
		t.Fatalf("apps.state exists before the first apply (%v): the first-state case is not tested", err)
	}
	code, out := runPlan(t, append(append([]string{"apply", "-dry-run"}, vars...), plan)...)
	t.Logf("plan apply -dry-run (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "live: blue → deploying green") {
		t.Errorf("the dry run does not say blue is live (exit %d)", code)
	}

	blueStarts := started(t, cli, blue)
	code, out = underKeepAliveLoad(t, cli, topo, append(append([]string{"apply", "-auto-approve", "-var", "version=v2"}, vars...), plan)...)
	if code != 0 {
		t.Fatalf("apply exit %d, want 0", code)
	}
	if !strings.Contains(out, "live: blue → green") {
		t.Errorf("apply output lacks %q", "live: blue → green")
	}
	sameConf("by the apply")
	servesColour(t, topo, green, "v2")
	colourState(t, s, green, blue)
	sameStarts(t, "blue after the cut-over to green", blueStarts, started(t, cli, blue))

	// nginx.conf still marks green down: the live colour must come from
	// the state file, or the next release would go to the live colour.
	code, out = runPlan(t, append(append([]string{"apply", "-dry-run", "-var", "version=v3"}, vars...), plan)...)
	t.Logf("plan apply -dry-run after the cut-over (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "live: green → deploying blue") {
		t.Errorf("after the cut-over the dry run does not say green is live (exit %d)", code)
	}

	// plan rollback after the finished apply: blue (v1) serves again,
	// starting nothing.
	greenStarts := started(t, cli, green)
	code, out = underKeepAliveLoad(t, cli, topo, append(append([]string{"rollback"}, vars...), plan)...)
	if code != 0 || !strings.Contains(out, "Flipped back apply") || !strings.Contains(out, "green → blue") {
		t.Fatalf("plan rollback exit %d, want 0 and the flip said", code)
	}
	sameConf("by the rollback")
	servesColour(t, topo, blue, "v1")
	colourState(t, s, blue, green)
	sameStarts(t, "blue after the flip back", blueStarts, started(t, cli, blue))
	sameStarts(t, "green after the flip back", greenStarts, started(t, cli, green))
}
