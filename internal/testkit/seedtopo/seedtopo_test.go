package seedtopo

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// seedConf is the repository's plans/proxy/nginx.conf, the seed's.
func seedConf(t *testing.T) []byte {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "plans", "proxy", "nginx.conf"))
	if err != nil {
		t.Skipf("the seed's nginx.conf: %v", err)
	}
	return b
}

func TestContainerConfIsTheSeeds(t *testing.T) {
	if got, want := containerConf([]string{"app1", "app2"}), string(seedConf(t)); got != want {
		t.Fatalf("generated config differs from plans/proxy/nginx.conf:\n%s", got)
	}
	three := containerConf([]string{"app1", "app2", "app3"})
	if !strings.Contains(three, "        server app2:3000;\n        server app3:3000;\n    }") {
		t.Fatalf("3 replicas:\n%s", three)
	}
}

func TestHostConf(t *testing.T) {
	c := hostConf("/tmp/d", "127.0.0.1:8080", []string{"127.0.0.1:1", "127.0.0.1:2"})
	for _, want := range []string{"pid /tmp/d/nginx.pid;", "listen 127.0.0.1:8080;",
		"server 127.0.0.1:1;\n        server 127.0.0.1:2;", "error_log /tmp/d/logs/error.log warn;",
		"proxy_temp_path /tmp/d/tmp/proxy;", "include /tmp/d/conf.d/*.conf;"} {
		if !strings.Contains(c, want) {
			t.Errorf("host config lacks %q:\n%s", want, c)
		}
	}
	if strings.HasPrefix(c, "user ") || strings.Contains(c, "\nuser ") {
		t.Errorf("host config has a user directive:\n%s", c)
	}
}

// start starts a topology and closes it in t.Cleanup, checking that nothing
// is left.
func start(t *testing.T, cli client.APIClient, o Options) *Topology {
	t.Helper()
	o.Log = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	topo, err := Start(ctx, cli, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := topo.Close(ctx); err != nil {
			t.Error(err)
		}
		assertGone(t, cli, topo)
	})
	return topo
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func assertGone(t *testing.T, cli client.APIClient, topo *Topology) {
	t.Helper()
	ctx := context.Background()
	for _, f := range []string{LabelKey + "=" + topo.Project, "com.docker.compose.project=" + topo.Project} {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", f))})
		if err != nil {
			t.Error(err)
		}
		for _, c := range cs {
			t.Errorf("left after Close: container %v", c.Names)
		}
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", f))})
		if err != nil {
			t.Error(err)
		}
		for _, n := range ns {
			t.Errorf("left after Close: network %s", n.Name)
		}
	}
	if topo.Dir != "" {
		if _, err := os.Stat(topo.Dir); !os.IsNotExist(err) {
			t.Errorf("left after Close: %s (%v)", topo.Dir, err)
		}
	}
	if topo.URL != "" {
		if resp, err := http.Get(topo.URL); err == nil {
			resp.Body.Close()
			t.Errorf("nginx still answers at %s after Close", topo.URL)
		}
	}
}

// assertRoundRobin GETs 2*len(Apps) times and checks that the apps answer in
// turn, each once per round.
func assertRoundRobin(t *testing.T, topo *Topology) {
	t.Helper()
	ctx := context.Background()
	var got []string
	for range 2 * len(topo.Apps) {
		body, err := topo.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, body)
	}
	n := len(topo.Apps)
	for i := range got {
		if i >= n && got[i] != got[i-n] {
			t.Fatalf("answers do not go round: %q", got)
		}
	}
	seen := map[string]bool{}
	for _, b := range got[:n] {
		seen[b] = true
	}
	for _, a := range topo.Apps {
		if want := "Hi there, I love ! " + a.Message; !seen[want] {
			t.Fatalf("%s never answered %q: %q", a.Service, want, got)
		}
	}
	t.Logf("answers: %q", got)
}

func TestContainerMode(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t) // the image is made from it
	t.Parallel()
	topo := start(t, cli, Options{})
	ctx := context.Background()

	if topo.NginxContainer != topo.Project+"-nginx" || topo.Network != topo.Project+"_default" || len(topo.Apps) != 2 {
		t.Fatalf("topology: %+v", topo)
	}
	if b, err := os.ReadFile(topo.ConfigPath); err != nil || !bytes.Equal(b, seedConf(t)) {
		t.Fatalf("%s is not the seed's nginx.conf (%v)", topo.ConfigPath, err)
	}
	assertRoundRobin(t, topo)

	// As docker-compose would have made it.
	ins, err := cli.ContainerInspect(ctx, topo.Apps[1].Container)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Name != "/"+topo.Project+"_app2_1" {
		t.Errorf("name %s", ins.Name)
	}
	for k, v := range map[string]string{
		"com.docker.compose.project": topo.Project, "com.docker.compose.service": "app2",
		"com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False", LabelKey: topo.Project,
	} {
		if ins.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, ins.Config.Labels[k], v)
		}
	}
	if ins.Config.Labels["com.docker.compose.config-hash"] == "" || ins.Config.Labels["com.docker.compose.version"] == "" {
		t.Errorf("labels %v", ins.Config.Labels)
	}
	if !contains(ins.Config.Env, "MESSAGE=app2,v1") {
		t.Errorf("env %v", ins.Config.Env)
	}
	if ep := ins.NetworkSettings.Networks[topo.Network]; ep == nil || !contains(ep.Aliases, "app2") {
		t.Errorf("network settings %+v", ins.NetworkSettings.Networks)
	}
	nins, err := cli.ContainerInspect(ctx, topo.NginxContainer)
	if err != nil {
		t.Fatal(err)
	}
	if len(nins.Mounts) != 1 || nins.Mounts[0].Source != topo.ConfigPath || nins.Mounts[0].Destination != "/etc/nginx/nginx.conf" {
		t.Errorf("nginx mounts %+v", nins.Mounts)
	}

	// A deploy renames the old container and recreates it with its config
	// (labels included): Close must remove both.
	if err := cli.ContainerRename(ctx, ins.ID, ins.Name[1:]+"_old"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerCreate(ctx, ins.Config, &container.HostConfig{NetworkMode: ins.HostConfig.NetworkMode},
		nil, nil, ins.Name[1:]); err != nil {
		t.Fatal(err)
	}

	// The host reaches container IPs directly (Linux bridge networking).
	resp, err := http.Get("http://" + topo.Apps[0].IP + ":3000/")
	if err != nil {
		t.Logf("the host cannot reach container IP %s: %v", topo.Apps[0].IP, err)
	} else {
		resp.Body.Close()
		t.Logf("the host reaches container IP %s directly: %s", topo.Apps[0].IP, resp.Status)
	}
}

func TestHostMode(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	t.Parallel()
	topo := start(t, cli, Options{HostNginx: true, Replicas: 3,
		Message: func(s string) string { return s + ",host" }})
	if topo.NginxContainer != "" || topo.NginxPIDFile == "" || len(topo.Apps) != 3 {
		t.Fatalf("topology: %+v", topo)
	}
	if !strings.HasPrefix(topo.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %s", topo.URL)
	}
	for _, a := range topo.Apps {
		if a.HostPort == 0 || a.Server != "127.0.0.1:"+strconv.Itoa(a.HostPort) {
			t.Fatalf("app %+v", a)
		}
		// The binding is fixed in HostConfig, so a recreated container keeps it.
		ins, err := cli.ContainerInspect(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b := ins.HostConfig.PortBindings["3000/tcp"]; len(b) != 1 || b[0].HostPort != strconv.Itoa(a.HostPort) {
			t.Fatalf("%s port bindings %+v", a.Service, ins.HostConfig.PortBindings)
		}
	}
	assertRoundRobin(t, topo)
}

func TestStartWithFailingApps(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	t.Parallel()
	topo := start(t, cli, Options{HostNginx: true, AppEnv: map[string]string{"FAIL": "1"}})
	body, err := topo.Get(context.Background())
	if err == nil || !strings.Contains(err.Error(), "status 500") || !strings.HasPrefix(body, "FAIL=1") {
		t.Fatalf("Get under FAIL=1: %q, %v", body, err)
	}
}

func TestStartFailsClearlyAndCleansUp(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	t.Parallel()
	project := testenv.UniqueName("nonstop-fail")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := Start(ctx, cli, Options{
		Project: project,
		Timeout: 3 * time.Second,
		Message: func(s string) string { return s + ",v1" },
		AppEnv:  map[string]string{"START_DELAY": "1h"}, // running, never listening
	})
	if err == nil {
		t.Fatal("Start succeeded with crashing apps")
	}
	t.Log(err)
	for _, want := range []string{"app1, app2 did not answer directly", project + "_app1_1", "running (exit 0", "START_DELAY=1h"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	assertGone(t, cli, &Topology{Project: project})

	// Apps that exit at once: nginx cannot resolve them and exits too.
	_, err = Start(ctx, cli, Options{Project: project + "-crash", Timeout: 3 * time.Second,
		AppEnv: map[string]string{"CRASH_AFTER": "1ms"}})
	if err == nil {
		t.Fatal("Start succeeded with crashing apps")
	}
	t.Log(err)
	for _, want := range []string{project + "-crash_app", "exited (exit 1", "CRASH_AFTER=1ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	assertGone(t, cli, &Topology{Project: project + "-crash"})
}

func TestSweepKeepsFresh(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	t.Parallel()
	topo := start(t, cli, Options{})
	// Nothing of a live run is older than a day.
	if err := Sweep(context.Background(), cli, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := topo.Get(context.Background()); err != nil {
		t.Fatalf("Sweep(24h) broke a fresh topology: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Project: "Bad Name"},
		{Message: func(string) string { return "same" }},
		{Replicas: -1},
	} {
		if _, err := Start(context.Background(), nil, o); err == nil {
			t.Errorf("Start(%+v) accepted", o)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
