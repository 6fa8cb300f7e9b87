package e2e

// The failure paths of blue/green (issue #13), on one two-colour topology:
// each subtest leaves it as it found it (blue live at v1, green idle), and
// asserts that.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestBlueGreenFailures(t *testing.T) {
	t.Parallel() // with -parallel's bound (GOMAXPROCS), other failure tests run meanwhile
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startBlueGreen(t, cli)
	blue, green := topo.Blue(), topo.Green()
	vars := seedVars(topo)
	apply := func(plan string) []string {
		return append(append([]string{"apply", "-auto-approve"}, vars...), plan)
	}
	const envLine = `env   = { MESSAGE = "${target},${var.version}" }`

	// nginx runs both colours up: apply cannot tell which one is live and
	// refuses before any change, saying what nginx has.
	t.Run("both colours up", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		up := strings.ReplaceAll(before.Config, " down;", ";")
		writeConf := func(conf string) {
			t.Helper()
			if err := os.WriteFile(topo.ConfigPath, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := topo.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		orig := before.Config
		writeConf(up)
		t.Cleanup(func() { writeConf(orig) })
		code, out := runPlan(t, apply(bgPlan(t, topo, "both-up"))...)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit %d, want 1 (nothing changed)", code)
		}
		for _, w := range []string{"No single live colour", "both colours are up", "green: app3:3000 up, app4:3000 up", "marked `down`"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		after := takeSnapshot(t, cli, topo)
		before.Config = up
		sameSnapshot(t, before, after)
	})

	// The idle colour never becomes healthy: the deploys are undone,
	// nothing was ever served from green, nginx.conf is byte-identical and
	// not one request failed.
	t.Run("unhealthy idle colour", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "unhealthy",
			envLine, `env   = { MESSAGE = "${target},${var.version}", FAIL = "1" }`,
			`timeout           = "30s"`, `timeout           = "4s"`)
		code, out := underLoad(t, topo, apply(plan)...)
		if code != 2 {
			t.Errorf("exit %d, want 2 (failed and rolled back)", code)
		}
		if !strings.Contains(out, `blue_green.apps.health_check["app3"]`) || strings.Contains(out, "live: blue → green") {
			t.Errorf("the health check of green should fail before any cut-over")
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		servesColour(t, topo, blue, "v1")
	})

	// `nginx -t` refuses the config when the cut-over edits it (an
	// include that cannot be read appears while green is checked): the
	// edit is taken back, the deploys undone, exit 2 with nginx's message.
	t.Run("nginx -t refuses the cut-over", func(t *testing.T) {
		pre := checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "nginx-t", "healthy_threshold = 2", "healthy_threshold = 15")
		p := startPlan(t, nil, apply(plan)...)
		waitEntry(t, p, plan, "done", `blue_green.apps.deploy["app3"]`)
		waitEntry(t, p, plan, "done", `blue_green.apps.deploy["app4"]`)
		edited := addInclude(t, topo, pre.Config)
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		for _, w := range []string{"blue_green.apps.cutover failed", "nginx -t failed", `open() "/etc/nginx/nonstop-missing.conf" failed`} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		// The cut-over's edit is taken back (the file is byte for byte
		// what it was just before it) and the deploys are undone.
		pre.Config = edited
		sameSnapshot(t, pre, takeSnapshot(t, cli, topo))
	})

	// SIGKILL while the cut-over waits for blue's requests (one is in
	// flight): nginx serves green, the journal says the cut-over did not
	// finish; `plan rollback` flips back and undoes the deploys.
	t.Run("killed mid-cut-over, then plan rollback", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "killed")
		inflight := slowRequest(topo.URL, 12*time.Second)
		time.Sleep(200 * time.Millisecond)
		p := startPlan(t, nil, apply(plan)...)
		midCutover(t, p, plan, topo.ConfigPath, green[0].Server)
		out := p.kill(t)
		t.Logf("plan apply, killed:\n%s", out)
		if hasEntry(journal(stateDirOf(plan)), "done", "blue_green.apps.cutover") {
			t.Fatalf("the kill came after the cut-over finished")
		}
		code, out := runPlan(t, "rollback", plan)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 0 || !strings.Contains(out, "undone: blue_green.apps.cutover") || !strings.Contains(out, "Rolled back apply") {
			t.Errorf("plan rollback exit %d, want 0 with the cut-over undone", code)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		servesColour(t, topo, blue, "v1")
		if st := <-inflight; st != 200 {
			t.Errorf("the request in flight got %d, want 200", st)
		}
	})

	// Ctrl-C while the cut-over waits: apply flips back and undoes the
	// deploys itself, exit 2, not one failed request.
	t.Run("Ctrl-C mid-cut-over", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "sigint")
		inflight := slowRequest(topo.URL, 12*time.Second)
		time.Sleep(200 * time.Millisecond)
		l := startLoad(topo.URL, 4)
		p := startPlan(t, nil, apply(plan)...)
		midCutover(t, p, plan, topo.ConfigPath, green[0].Server)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code, out := p.wait(t)
		l.Stop()
		t.Logf("plan apply (exit %d):\n%s", code, out)
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if code != 2 || !strings.Contains(out, "things are as they were before the apply") {
			t.Errorf("exit %d, want 2 with a clean rollback said", code)
		}
		if n := l.non2xx.Load(); n != 0 {
			t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		servesColour(t, topo, blue, "v1")
		if st := <-inflight; st != 200 {
			t.Errorf("the request in flight got %d, want 200", st)
		}
	})

	// The gate after the cut-over fails (a p99 bound no answer meets):
	// the apply flips back to blue and undoes green's deploys, exit 2,
	// not one failed request.
	t.Run("gate fails after the cut-over", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "gate", "  health_check {\n", fmt.Sprintf("  gate {\n    url      = %q\n    duration = \"2s\"\n    max_p99  = \"1us\"\n  }\n\n  health_check {\n", topo.URL))
		code, out := underLoad(t, topo, apply(plan)...)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		for _, w := range []string{"live: blue → green", "blue_green.apps.gate failed", "live: blue again"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		servesColour(t, topo, blue, "v1")
	})

	// keep_previous = false stops blue once green serves; `plan rollback`
	// then refuses to flip back to containers that do not run, and
	// changes nothing. (Last: it leaves green live.)
	t.Run("keep_previous = false", func(t *testing.T) {
		checkClean(t, cli, topo)
		plan := bgPlan(t, topo, "keep-previous", "nginx = nginx.proxy\n", "nginx = nginx.proxy\n  keep_previous = false\n")
		code, _ := underLoad(t, topo, apply(plan)...)
		if code != 0 {
			t.Fatalf("apply exit %d, want 0", code)
		}
		servesColour(t, topo, green, "v2")
		for _, a := range blue {
			if c, err := cli.ContainerInspect(context.Background(), a.Container); err != nil || c.State.Running {
				t.Errorf("%s should be stopped after the apply (keep_previous = false): %v", a.Container, err)
			}
		}
		conf, _ := os.ReadFile(topo.ConfigPath)
		code, out := runPlan(t, "rollback", plan)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 1 || !strings.Contains(out, "refusing to move the traffic back to blue") || !strings.Contains(out, blue[0].Service) {
			t.Errorf("plan rollback exit %d, want 1 and a clear refusal", code)
		}
		if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(conf) {
			t.Errorf("the refused rollback changed nginx.conf")
		}
		servesColour(t, topo, green, "v2")
	})
}

// midCutover waits until the apply's cut-over has moved the traffic (its
// checkpoint journaled and server, of the idle colour, up in nginx.conf)
// and is waiting for the old colour's requests.
func midCutover(t *testing.T, p *proc, plan, config, server string) {
	t.Helper()
	waitEntry(t, p, plan, "checkpoint", "blue_green.apps.cutover")
	waitFor(t, server+" up", 30*time.Second, p, func() bool {
		b, _ := os.ReadFile(config)
		return strings.Contains(string(b), "server "+server+";")
	})
	time.Sleep(500 * time.Millisecond) // the reload is under way or done
}

// bgPlan writes plans/blue-green.hcl, with edits (pairs of old, new), into
// its own folder (its own state), with the topology's nginx.conf as the
// plan's proxy/nginx.conf.
func bgPlan(t *testing.T, topo *seedtopo.Topology, name string, edits ...string) string {
	t.Helper()
	src := string(repoFile(t, "plans/blue-green.hcl"))
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("plans/blue-green.hcl has no %q to edit", edits[i])
		}
		src = strings.ReplaceAll(src, edits[i], edits[i+1])
	}
	src = strings.Replace(src, `config        = "proxy/nginx.conf"`, fmt.Sprintf("config        = %q", topo.ConfigPath), 1)
	return writePlanIn(t, topo, name, src)
}
