package e2e

// The reload-free backend with its state folder reached only through the
// Docker engine (issue #14 item 3, issue #11 item 2): the nginx block's
// config names the file as the container sees it, and the state folder
// lives in the container's own layer (no mount this machine could reach),
// so every state write, state read and ack read of `plan` goes through
// the engine, as it would against a remote engine. The Lua image has no
// shell: the writes are the engine's archive API (see
// nginx/dynamic_file.go).

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/nonstop-deploy/nonstop/executor"
	iload "github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// engineStateDir is the state folder inside nginx's container.
const engineStateDir = "/etc/nginx/nonstop"

// startEngineDynamicSeed is startDynamicSeed with nginx recreated without
// the state folder's bind mount: the folder, with nonstop.lua, is copied
// into the container's own layer through the archive API before it
// starts. The plan's config is "/etc/nginx/nginx.conf".
func startEngineDynamicSeed(t *testing.T) *dynamicSeed {
	t.Helper()
	cli := testenv.Docker(t)
	s := startDynamicSeed(t, cli, `config        = "proxy-dynamic/nginx.conf" # bind-mounted to /etc/nginx/nginx.conf`, `config        = "/etc/nginx/nginx.conf"`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old, err := cli.ContainerInspect(ctx, s.NginxContainer)
	if err != nil {
		t.Fatal(err)
	}
	hc := old.HostConfig
	hc.Binds = slices.DeleteFunc(slices.Clone(hc.Binds), func(b string) bool { return strings.Contains(b, ":"+engineStateDir) })
	if len(hc.Binds) != 1 {
		t.Fatalf("nginx binds %v: want only nginx.conf left", hc.Binds)
	}
	if err := cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network: {Aliases: []string{"nginx"}}}}
	c, err := cli.ContainerCreate(ctx, old.Config, hc, nc, nil, s.NginxContainer)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "nonstop/", Typeflag: tar.TypeDir, Mode: 0o777, ModTime: time.Now()})
	_ = tw.WriteHeader(&tar.Header{Name: "nonstop/nonstop.lua", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(nginx.LuaModule)), ModTime: time.Now()})
	_, _ = tw.Write(nginx.LuaModule)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cli.CopyToContainer(ctx, c.ID, "/etc/nginx", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ins.Mounts {
		if strings.HasPrefix(engineStateDir+"/", strings.TrimSuffix(m.Destination, "/")+"/") {
			t.Fatalf("nginx still mounts %s over the state folder: the test would not go through the engine", m.Destination)
		}
	}
	s.state = "" // not on this machine
	s.refreshURL(t)
	waitAnswers(t, s, "v1")
	return s
}

// engineRead reads a file of nginx's container through the engine; ""
// when it does not exist.
func (s *dynamicSeed) engineRead(t *testing.T, name string) string {
	t.Helper()
	rc, _, err := s.cli.CopyFromContainer(context.Background(), s.NginxContainer, name)
	if err != nil {
		return ""
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// engineMembership is membership, read through the engine: server →
// "up"/"down" and address.
func (s *dynamicSeed) engineMembership(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(s.engineRead(t, engineStateDir+"/apps.state"), "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && f[0] == "server" {
			st := "up"
			if f[3] == "1" {
				st = "down"
			}
			out[f[1]] = st + " " + f[2]
		}
	}
	return out
}

// engineInFlight is inFlight, read through the engine.
func (s *dynamicSeed) engineInFlight(t *testing.T, server string) int {
	t.Helper()
	for _, line := range strings.Split(s.engineRead(t, engineStateDir+"/apps.ack"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "inflight" && f[1] == server {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	return 0
}

// TestDynamicThroughEngine: with the state folder reached only through
// the engine, the shipped reload-free plan rolls both apps under
// keep-alive POST load with 0 non-2xx and 0 transport errors, nginx never
// reloads and nginx.conf stays byte-identical, the membership in the
// container's state file points at the new containers; then a plan
// SIGKILLed mid-drain is undone by `plan rollback`, the request in flight
// during the drain answered.
func TestDynamicThroughEngine(t *testing.T) {
	testenv.NginxBinary(t)
	s := startEngineDynamicSeed(t)
	cli := s.cli
	vars := seedVars(s.Topology)
	workers := nginxWorkers(t, cli, s.Topology)
	before, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	allUp := func(t *testing.T) {
		t.Helper()
		m := s.engineMembership(t)
		for _, a := range s.Apps {
			if want := "up " + s.appIP(t, a.Container) + ":3000"; m[a.Service+":3000"] != want {
				t.Errorf("state of %s in the container: %q, want %q (its container's address)", a.Service, m[a.Service+":3000"], want)
			}
		}
	}

	t.Run("rolling update under keep-alive POST load", func(t *testing.T) {
		o := iload.NewOptions(s.URL)
		o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("ping"), 4, 3*time.Minute
		o.Header = http.Header{"Content-Type": {"text/plain"}}
		run, err := iload.Start(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, vars...), s.plan)...)
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
		if after, _ := os.ReadFile(s.ConfigPath); !bytes.Equal(after, before) {
			t.Errorf("nginx.conf changed:\n%s", after)
		}
		serves(t, s.Topology, "v2")
		allUp(t)
		st := s.engineRead(t, engineStateDir+"/apps.state")
		if !strings.HasPrefix(st, "nonstop 1\nsize "+strconv.Itoa(len(st))+"\n") {
			t.Errorf("the state file in the container does not start with its size line:\n%s", st)
		}
		sawConfig := false
		for _, e := range journal(stateDirOf(s.plan)) {
			sawConfig = sawConfig || (e.Kind == executor.KindDone && strings.Contains(string(e.Record), `"config":"/etc/nginx/nginx.conf"`))
		}
		if !sawConfig {
			t.Errorf("no journal record names config /etc/nginx/nginx.conf: a rollback would not reach the same nginx")
		}
	})

	t.Run("killed mid-drain then plan rollback", func(t *testing.T) {
		snap := takeSnapshot(t, cli, s.Topology)
		var slow []<-chan int
		for len(slow) < 8 && s.engineInFlight(t, "app2:3000") == 0 {
			slow = append(slow, slowRequest(strings.TrimSuffix(s.URL, "/")+"/", 8*time.Second))
			time.Sleep(200 * time.Millisecond)
		}
		if s.engineInFlight(t, "app2:3000") == 0 {
			t.Fatalf("no slow request reached app2")
		}
		p := startPlan(t, nil, append(append([]string{"apply", "-auto-approve"}, vars...), "-var", "version=v3", s.plan)...)
		waitFor(t, "app2 marked down", 90*time.Second, p, func() bool {
			return strings.HasPrefix(s.engineMembership(t)["app2:3000"], "down")
		})
		time.Sleep(300 * time.Millisecond) // well into the drain
		out := p.kill(t)
		t.Logf("plan apply, killed mid-drain:\n%s", out)
		if stepEntry(s.plan, executor.KindDone, "app2", "drain") {
			t.Fatalf("the drain of app2 finished with a request in flight: the kill came too late")
		}
		code, out := runPlan(t, append(append([]string{"rollback"}, vars...), "-var", "version=v3", s.plan)...)
		t.Logf("plan rollback (exit %d):\n%s", code, out)
		if code != 0 {
			t.Fatalf("plan rollback exit %d, want 0", code)
		}
		for _, ch := range slow {
			if st := <-ch; st != 200 {
				t.Errorf("a request in flight during the drain got %d, want 200", st)
			}
		}
		sameSnapshot(t, snap, takeSnapshot(t, cli, s.Topology))
		allUp(t)
		serves(t, s.Topology, "v2")
		if now := nginxWorkers(t, cli, s.Topology); !slices.Equal(now, workers) {
			t.Errorf("nginx workers went from %v to %v: nginx reloaded (want 0 reloads)", workers, now)
		}
	})
}
