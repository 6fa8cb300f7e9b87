package e2e

// Blue/green (plans/blue-green.hcl) on the seed topology with two colours
// (seedtopo.StartBlueGreen: app1 and app2 blue and live, app3 and app4
// green and marked down), applied under load, alternated, and flipped back
// by `plan rollback`, all against the real engine and nginx.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// startBlueGreen starts the two-colour topology and removes it when the
// test ends, whatever happens.
func startBlueGreen(t *testing.T, cli client.APIClient) *seedtopo.Topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo, err := seedtopo.StartBlueGreen(ctx, cli, 2, seedtopo.Options{Log: testWriter{t}})
	if err != nil {
		t.Fatalf("starting the two-colour topology: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := topo.Close(ctx); err != nil {
			t.Errorf("removing the topology: %v", err)
		}
	})
	return topo
}

// servesColour checks that nginx answers with exactly the apps of one
// colour, each at version.
func servesColour(t *testing.T, topo *seedtopo.Topology, apps []seedtopo.App, version string) {
	t.Helper()
	got := answers(t, topo, 4*len(apps))
	for _, a := range apps {
		if got["Hi there, I love ! "+a.Service+","+version] == 0 {
			t.Errorf("nginx answers %v; want %s,%s among them", got, a.Service, version)
		}
	}
	if len(got) != len(apps) {
		t.Errorf("nginx answers %v; want only %d apps at %s", got, len(apps), version)
	}
}

// colourLines checks nginx.conf: the live apps' server lines up, the
// others marked down.
func colourLines(t *testing.T, topo *seedtopo.Topology, live, idle []seedtopo.App) {
	t.Helper()
	b, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range live {
		if !strings.Contains(string(b), "server "+a.Server+";") {
			t.Errorf("nginx.conf lacks %q (live):\n%s", "server "+a.Server+";", b)
		}
	}
	for _, a := range idle {
		if !strings.Contains(string(b), "server "+a.Server+" down;") {
			t.Errorf("nginx.conf lacks %q (idle):\n%s", "server "+a.Server+" down;", b)
		}
	}
}

// started is each app container's ID and start time: the same after a
// command means it started no container.
func started(t *testing.T, cli client.APIClient, apps []seedtopo.App) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range apps {
		c, err := cli.ContainerInspect(context.Background(), a.Container)
		if err != nil {
			t.Fatalf("inspect %s: %v", a.Container, err)
		}
		if !c.State.Running {
			t.Errorf("%s is not running", a.Container)
		}
		out[a.Service] = c.ID + " " + c.State.StartedAt
	}
	return out
}

func sameStarts(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s was %s, now %s: a container was replaced or restarted", what, k, v, after[k])
		}
	}
}

// underLoad runs plan with args while 4 clients POST through nginx, and
// fails the test on any non-2xx answer.
func underLoad(t *testing.T, topo *seedtopo.Topology, args ...string) (int, string) {
	t.Helper()
	l := startLoad(topo.URL, 4)
	code, out := runPlan(t, args...)
	l.Stop()
	t.Logf("plan %s (exit %d):\n%s", args[0], code, out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx answers during plan %s, want 0: %v", n, args[0], l.samples)
	}
	if l.requests.Load() < 20 {
		t.Errorf("only %d requests during plan %s: the load did not run", l.requests.Load(), args[0])
	}
	return code, out
}

// The blue/green of issue #13 end to end: the dry run reads the live
// colour; apply deploys green and cuts over under load with not one
// failed request, blue still running and marked down; the next release
// goes to blue by itself; `plan rollback` flips back to green in one
// reload under load, starting no container; a second rollback has
// nothing to do.
func TestBlueGreenUnderLoad(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startBlueGreen(t, cli)
	blue, green := topo.Blue(), topo.Green()
	plan := seedPlan(t, topo, "blue-green.hcl")
	vars := seedVars(topo)
	apply := func(version string) []string {
		return append(append([]string{"apply", "-auto-approve", "-var", "version=" + version}, vars...), plan)
	}
	servesColour(t, topo, blue, "v1")
	initial, _ := os.ReadFile(topo.ConfigPath)

	code, out := runPlan(t, append(append([]string{"apply", "-dry-run"}, vars...), plan)...)
	t.Logf("plan apply -dry-run (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "live: blue → deploying green") || !strings.Contains(out, "blue is live") {
		t.Errorf("the dry run does not say the live colour (exit %d)", code)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(initial) {
		t.Errorf("the dry run changed nginx.conf")
	}

	blueStarts := started(t, cli, blue)
	gens := watchGenerations(cli, topo.NginxContainer)
	code, out = underLoad(t, topo, apply("v2")...)
	if code != 0 {
		t.Fatalf("apply exit %d, want 0", code)
	}
	// Deploying the idle colour needs no drain: the cut-over is the one
	// reload of the apply, as nginx's worker generations show.
	if n := gens.reloads(t); n != 1 {
		t.Errorf("the apply reloaded nginx %d times; a blue/green cut-over is one reload", n)
	}
	for _, w := range []string{"live: blue → green", "blue is live (deploying green)"} {
		if !strings.Contains(out, w) {
			t.Errorf("apply output lacks %q", w)
		}
	}
	servesColour(t, topo, green, "v2")
	colourLines(t, topo, green, blue)
	sameStarts(t, "blue after the cut-over to green", blueStarts, started(t, cli, blue))
	if names := projectContainers(t, cli, topo.Project); len(names) != 5 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
		t.Errorf("containers after apply: %v; want four apps and nginx, no leftover", names)
	}
	afterGreen, _ := os.ReadFile(topo.ConfigPath)

	// Applying the same release again changes nothing: green is live and
	// runs it.
	code, out = runPlan(t, apply("v2")...)
	if code != 0 || !strings.Contains(out, "Nothing to do") || !strings.Contains(out, "green is live and runs what the plan says") {
		t.Errorf("a second apply of v2 (exit %d) should have nothing to do:\n%s", code, out)
	}

	// The next release alternates: blue gets v3 and serves.
	greenStarts := started(t, cli, green)
	code, _ = underLoad(t, topo, apply("v3")...)
	if code != 0 {
		t.Fatalf("second apply exit %d, want 0", code)
	}
	servesColour(t, topo, blue, "v3")
	colourLines(t, topo, blue, green)
	sameStarts(t, "green after the cut-over to blue", greenStarts, started(t, cli, green))

	// plan rollback after the finished apply: green (v2) serves again,
	// nothing is started, nginx.conf is as after the first apply.
	blueStarts = started(t, cli, blue)
	gens = watchGenerations(cli, topo.NginxContainer)
	t0 := time.Now()
	code, out = underLoad(t, topo, "rollback", plan)
	took := time.Since(t0)
	if code != 0 || !strings.Contains(out, "Flipped back apply") || !strings.Contains(out, "blue → green") {
		t.Fatalf("plan rollback exit %d, want 0 and the flip said", code)
	}
	if n := gens.reloads(t); n != 1 {
		t.Errorf("plan rollback reloaded nginx %d times; flipping a cut-over back is one reload", n)
	}
	t.Logf("plan rollback took %s", took.Round(time.Millisecond))
	servesColour(t, topo, green, "v2")
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(afterGreen) {
		t.Errorf("nginx.conf after the flip back is not what it was with green live:\n%s", after)
	}
	sameStarts(t, "blue after the flip back", blueStarts, started(t, cli, blue))
	sameStarts(t, "green after the flip back", greenStarts, started(t, cli, green))

	code, out = runPlan(t, "rollback", plan)
	if code != 0 || !strings.Contains(out, "Nothing to roll back") {
		t.Errorf("a second rollback (exit %d) should have nothing to do:\n%s", code, out)
	}
	code, out = runPlan(t, "history", plan)
	if code != 0 || !strings.Contains(out, "rolled_back") {
		t.Errorf("plan history (exit %d) does not record the flip back:\n%s", code, out)
	}
}
