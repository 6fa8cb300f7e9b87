package e2e

// Helpers of the reload-free tests (dynamic_test.go): the seed's topology
// with its nginx replaced by the Lua image running
// plans/proxy-dynamic/nginx.conf, the state folder bind-mounted, and
// readers of the membership the Lua side acknowledged.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/bench"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// dynamicSeed is the seed with a reload-free nginx.
type dynamicSeed struct {
	*seedtopo.Topology
	cli   client.APIClient
	state string // the state folder on this machine (/etc/nginx/nonstop in nginx)
	plan  string // plans/rolling-update-dynamic.hcl beside proxy-dynamic/
}

// startDynamicSeed starts the seed, then replaces its nginx container by
// one of the same name from testimage.NginxLua running the repository's
// plans/proxy-dynamic/nginx.conf with nonstop.lua in a bind-mounted state
// folder (bench.DynamicNginx, as plan-bench's plan-apply-dynamic does), and
// waits until both apps answer through it. The module installed is the one
// `plan nginx-snippet -lua` prints.
func startDynamicSeed(t *testing.T, cli client.APIClient, edits ...string) *dynamicSeed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo := startSeed(t, cli, seedtopo.Options{})
	state, err := bench.DynamicNginx(ctx, cli, topo, filepath.Join("..", ".."), nil)
	if err != nil {
		t.Fatalf("nginx with Lua: %v", err)
	}
	s := &dynamicSeed{Topology: topo, cli: cli, state: state}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx logs:\n%s", containerLogs(cli, topo.NginxContainer))
		}
	})
	code, lua := runPlan(t, "nginx-snippet", "-lua")
	if installed, err := os.ReadFile(filepath.Join(state, "nonstop.lua")); code != 0 || err != nil || string(installed) != lua {
		t.Fatalf("plan nginx-snippet -lua (exit %d) is not the module installed (%v)", code, err)
	}
	s.plan = seedPlan(t, topo, "rolling-update-dynamic.hcl", edits...)
	waitAnswers(t, s, "v1")
	return s
}

// refreshURL reads the published port of nginx's container into URL.
func (s *dynamicSeed) refreshURL(t *testing.T) {
	t.Helper()
	ins, err := s.cli.ContainerInspect(context.Background(), s.NginxContainer)
	if err != nil {
		t.Fatal(err)
	}
	b := ins.NetworkSettings.Ports[nat.Port("80/tcp")]
	if len(b) == 0 {
		t.Fatalf("nginx (Lua image) publishes no port: %+v", ins.State)
	}
	s.URL = "http://127.0.0.1:" + b[0].HostPort + "/"
}

// waitAnswers waits until nginx answers with both apps at version.
func waitAnswers(t *testing.T, s *dynamicSeed, version string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]bool{}
		for range 8 {
			if body, err := s.Get(context.Background()); err == nil {
				got[strings.TrimSpace(body)] = true
			}
		}
		if got["Hi there, I love ! app1,"+version] && got["Hi there, I love ! app2,"+version] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx (Lua image) does not answer with app1 and app2 at %s: %v", version, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func containerLogs(cli client.APIClient, id string) string {
	r, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "60"})
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	var b strings.Builder
	buf := make([]byte, 64<<10)
	n, _ := r.Read(buf)
	b.Write(buf[:n])
	return b.String()
}

// membership reads the state file: server → "up"/"down" and address.
func (s *dynamicSeed) membership(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.state, "apps.state"))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
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

// appIP is a running container's address on the topology's network.
func (s *dynamicSeed) appIP(t *testing.T, name string) string {
	t.Helper()
	c, err := s.cli.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c.NetworkSettings.Networks[s.Network].IPAddress
}

// stepEntry reports whether the newest journal has an entry of kind for
// the rollout step of app whose name ends with what (drain, deploy, ...).
func stepEntry(plan, kind, app, what string) bool {
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind == kind && strings.Contains(e.Step, `"`+app+`"`) && strings.HasSuffix(e.Step, "."+what) {
			return true
		}
	}
	return false
}

// inFlight is the Lua side's count of requests in flight on server (its
// ack file), 0 when there is none yet.
func (s *dynamicSeed) inFlight(t *testing.T, server string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.state, "apps.ack"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "inflight" && f[1] == server {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	return 0
}
