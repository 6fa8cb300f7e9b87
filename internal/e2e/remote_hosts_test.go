// This file tests one plan across two engines: the seed's apps, app1 on
// the main engine and app2 on a second real dockerd (testkit/dockerd2),
// each publishing its port on its host, behind one nginx whose upstream
// lists host:port. A rolling update over both under load, a version that
// fails on the second host, which rolls back both, and an apply killed
// midway that `plan rollback` undoes on both.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/dockerd2"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// twoHostPlan rolls app1 on engine a (the main one), then app2 on engine
// b, behind the host nginx. fail2 is added to app2's env.
func twoHostPlan(topo *seedtopo.Topology, hostB, fail2 string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `variable "version" {
  default = "v2"
}

nginx "host" {
  pid_file    = %q
  main_config = %q
  config      = %q
  upstream    = "apps"
}

docker "a" {
  compose_project = %q
}

docker "b" {
  host            = %q
  compose_project = %q
}
`, topo.NginxPIDFile, topo.ConfigPath, topo.ConfigPath, topo.Project, hostB, topo.Project)
	prev := ""
	for _, a := range []struct{ app, engine, server, extra string }{
		{"app1", "a", topo.Apps[0].Server, ""},
		{"app2", "b", topo.Apps[1].Server, fail2},
	} {
		dep := ""
		if prev != "" {
			dep = "\n  depends_on = [step.restore." + prev + "]"
		}
		fmt.Fprintf(&b, `
step "drain" %[1]q {
  nginx  = nginx.host
  server = %[3]q%[6]s
}

step "deploy" %[1]q {
  engine     = docker.%[2]s
  container  = %[1]q
  image      = %[4]q
  env        = { MESSAGE = "%[1]s,${var.version}"%[5]s }
  depends_on = [step.drain.%[1]s]
}

step "health_check" %[1]q {
  engine    = docker.%[2]s
  container = %[1]q
  http {
    port        = 3000
    expect_body = "%[1]s,${var.version}"
  }
  interval          = "200ms"
  timeout           = "4s"
  healthy_threshold = 2
  depends_on        = [step.deploy.%[1]s]
}

step "restore" %[1]q {
  nginx      = nginx.host
  server     = %[3]q
  depends_on = [step.health_check.%[1]s]
}
`, a.app, a.engine, a.server, topo.Images.App, a.extra, dep)
		prev = a.app
	}
	return b.String()
}

// moveApp recreates the seed's app on engine to: same name, image, env,
// compose labels and published port; its network is to's default bridge.
func moveApp(t *testing.T, from, to client.APIClient, a seedtopo.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ins, err := from.ContainerInspect(ctx, a.Container)
	if err != nil {
		t.Fatal(err)
	}
	if err := from.ContainerRemove(ctx, ins.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	cfg := &container.Config{Image: ins.Config.Image, Env: ins.Config.Env, Labels: ins.Config.Labels, ExposedPorts: ins.Config.ExposedPorts}
	c, err := to.ContainerCreate(ctx, cfg, &container.HostConfig{PortBindings: ins.HostConfig.PortBindings}, nil, nil, a.Container)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", a.HostPort)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if strings.Contains(string(b), a.Message) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on the second engine never answered at %s", a.Container, url)
		}
	}
}

// running returns the ID and MESSAGE of a running container on cli.
func running(t *testing.T, cli client.APIClient, name string) (id, message string) {
	t.Helper()
	ins, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !ins.State.Running {
		t.Errorf("%s is not running (%s)", name, ins.State.Status)
	}
	for _, e := range ins.Config.Env {
		if v, ok := strings.CutPrefix(e, "MESSAGE="); ok {
			message = v
		}
	}
	return ins.ID, message
}

func TestTwoHosts(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("CI=true but the two-engine test needs root to start a second dockerd")
		}
		t.Skip("the two-engine test needs root to start a second dockerd")
	}
	topo := startSeed(t, cli, seedtopo.Options{HostNginx: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e2, err := dockerd2.Start(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e2.Close(context.Background()); err != nil {
			t.Errorf("stopping the second engine: %v", err)
		}
	})
	if err := e2.LoadImage(ctx, cli, topo.Images.App); err != nil {
		t.Fatal(err)
	}
	app1, app2 := topo.Apps[0], topo.Apps[1]
	moveApp(t, cli, e2.Client, app2)
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	write := func(name, src string) string {
		p := filepath.Join(topo.Dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apply := func(plan string, args ...string) int {
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, args...), plan)...)
		l.Stop()
		t.Logf("plan apply (exit %d):\n%s", code, out)
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if n := l.non2xx.Load(); n != 0 || l.requests.Load() < 100 {
			t.Errorf("load: %d requests, %d non-2xx; want >= 100 and none", l.requests.Load(), n)
		}
		return code
	}

	// 1. Both hosts to v2.
	plan := write("two-hosts.hcl", twoHostPlan(topo, e2.Host, ""))
	if code := apply(plan); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	id1, msg1 := running(t, cli, app1.Container)
	id2, msg2 := running(t, e2.Client, app2.Container)
	if msg1 != "app1,v2" || msg2 != "app2,v2" {
		t.Errorf("after apply: app1 on the main engine says %q, app2 on the second says %q; want v2 on both", msg1, msg2)
	}
	if got := answers(t, topo, 8); got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 || len(got) != 2 {
		t.Errorf("after apply, nginx answers %v; want app1,v2 and app2,v2", got)
	}
	// Each deploy record names its own engine, so a rollback reaches it.
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind != "done" || e.Type != "deploy" {
			continue
		}
		var rec struct{ Engine struct{ Host string } }
		if err := json.Unmarshal(e.Record, &rec); err != nil {
			t.Fatal(err)
		}
		want := ""
		if e.Step == "step.deploy.app2" {
			want = e2.Host
		}
		if rec.Engine.Host != want {
			t.Errorf("%s: journal records engine %q, want %q", e.Step, rec.Engine.Host, want)
		}
	}
	if list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true}); strings.Contains(fmt.Sprint(list), app2.Container) {
		t.Errorf("the main engine has a container named like app2: the plan created it on the wrong engine")
	}

	// 2. v3 fails on the second host after app1 went to v3 on the first:
	// both come back.
	broken := write("two-hosts-broken.hcl", twoHostPlan(topo, e2.Host, `, FAIL = "1"`))
	if code := apply(broken, "-var", "version=v3"); code != 2 {
		t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
	}
	if id, msg := running(t, cli, app1.Container); id != id1 || msg != "app1,v2" {
		t.Errorf("app1 on the main engine after the rollback: %s %q; want its v2 container %s back", id[:12], msg, id1[:12])
	}
	if id, msg := running(t, e2.Client, app2.Container); id != id2 || msg != "app2,v2" {
		t.Errorf("app2 on the second engine after the rollback: %s %q; want its v2 container %s back", id[:12], msg, id2[:12])
	}
	if list, err := e2.Client.ContainerList(context.Background(), container.ListOptions{All: true}); err != nil || len(list) != 1 {
		t.Errorf("containers on the second engine after the rollback: %d (%v); want only app2", len(list), err)
	}
	if got := answers(t, topo, 8); got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 || len(got) != 2 {
		t.Errorf("after the rollback, nginx answers %v; want app1,v2 and app2,v2", got)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
		t.Errorf("nginx.conf not byte-identical after both applies:\n%s", after)
	}

	// 3. Crash recovery across both: the apply is killed once app1 runs
	// v4 on the first engine and app2's v4 container exists on the
	// second; `plan rollback`, a new process with only the journal, puts
	// both back through their own engines.
	slow := writePlanIn(t, topo, "two-hosts-killed", strings.ReplaceAll(twoHostPlan(topo, e2.Host, `, FAIL = "1"`), `timeout           = "4s"`, `timeout           = "90s"`))
	l := startLoad(topo.URL, 4)
	p := startPlan(t, nil, "apply", "-auto-approve", "-var", "version=v4", slow)
	waitEntry(t, p, slow, "done", "step.deploy.app2")
	t.Logf("plan apply, killed:\n%s", p.kill(t))
	code, out := runPlan(t, "rollback", "-var", "version=v4", slow)
	l.Stop()
	t.Logf("plan rollback (exit %d):\n%s", code, out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 0 || !strings.Contains(out, "Rolled back apply") {
		t.Fatalf("plan rollback exit %d, want 0 and the apply rolled back", code)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx during the killed apply and its rollback: %v", n, l.samples)
	}
	if id, msg := running(t, cli, app1.Container); id != id1 || msg != "app1,v2" {
		t.Errorf("app1 on the main engine after the rollback: %s %q; want its v2 container %s back", id[:12], msg, id1[:12])
	}
	if id, msg := running(t, e2.Client, app2.Container); id != id2 || msg != "app2,v2" {
		t.Errorf("app2 on the second engine after the rollback: %s %q; want its v2 container %s back", id[:12], msg, id2[:12])
	}
	if list, err := e2.Client.ContainerList(context.Background(), container.ListOptions{All: true}); err != nil || len(list) != 1 {
		t.Errorf("containers on the second engine after the rollback: %d (%v); want only app2", len(list), err)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
		t.Errorf("nginx.conf not byte-identical after the rollback:\n%s", after)
	}
	if got := answers(t, topo, 8); got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 || len(got) != 2 {
		t.Errorf("after the rollback, nginx answers %v; want app1,v2 and app2,v2", got)
	}
}
