// This file tests nginx's config reached through its engine alone: the
// seed's rolling update with `config = "/etc/nginx/nginx.conf"` (the path
// as the nginx container sees it), once from this machine and once with a
// statically built plan in a FROM scratch container that has only the
// engine's socket, so it cannot see the host's files. Under load, 0
// non-2xx; the config correct after success and byte-identical after a
// rollback.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/shellnginx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// containerPathEdit points the seed plan's nginx block at the file as the
// container sees it.
var containerPathEdit = []string{`config        = "proxy/nginx.conf" # bind-mounted to /etc/nginx/nginx.conf`, `config        = "/etc/nginx/nginx.conf"`}

// startShellSeed is the seed with an nginx image that has sh and cat, as
// the official images do: its config is bind-mounted on its own, which
// only an in-place write through exec keeps (see nginx.ContainerFile).
func startShellSeed(t testing.TB, cli client.APIClient) *seedtopo.Topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := shellnginx.Image(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	return startSeed(t, cli, seedtopo.Options{NginxImage: img})
}

// TestConfigThroughEngine: from this machine, with config naming the path
// inside the container (this machine's /etc/nginx/nginx.conf, if any, is
// another file and stays untouched), the rolling update succeeds under
// load, and a version that never gets healthy is rolled back to the very
// bytes the config had.
func TestConfigThroughEngine(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startShellSeed(t, cli)
	localBefore, localErr := os.ReadFile("/etc/nginx/nginx.conf")
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	plan := seedPlan(t, topo, "rolling-update.hcl", containerPathEdit...)
	l := startLoad(topo.URL, 4)
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), plan)...)
	l.Stop()
	t.Logf("plan apply (exit %d):\n%s", code, out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	if n := l.non2xx.Load(); n != 0 || l.requests.Load() < 100 {
		t.Errorf("load: %d requests, %d non-2xx; want >= 100 and none", l.requests.Load(), n)
	}
	if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
		t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
		t.Errorf("after the rolling update (every server back) the config differs:\n%s", after)
	}
	// The journal names the file as the plan does, so a rollback from it
	// reaches the same file through the engine.
	sawConfig := false
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind == "done" && (e.Type == "drain" || e.Type == "restore") {
			sawConfig = sawConfig || strings.Contains(string(e.Record), `"config":"/etc/nginx/nginx.conf"`)
		}
	}
	if !sawConfig {
		t.Errorf("no drain or restore record names config /etc/nginx/nginx.conf")
	}

	// A broken version: drained, deployed, never healthy, rolled back.
	broken := seedPlan(t, topo, "rolling-update.hcl", append(containerPathEdit,
		`env        = { MESSAGE = "app2,${var.version}" }`, `env        = { MESSAGE = "app2,${var.version}", FAIL = "1" }`,
		`timeout           = "30s"`, `timeout           = "4s"`)...)
	l = startLoad(topo.URL, 4)
	code, out = runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), "-var", "version=v3", broken)...)
	l.Stop()
	t.Logf("broken version: plan apply (exit %d):\n%s", code, out)
	if code != 2 {
		t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx during the failed apply and its rollback: %v", n, l.samples)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
		t.Errorf("after the rollback the config is not byte-identical:\n%s", after)
	}
	if localErr == nil {
		if now, _ := os.ReadFile("/etc/nginx/nginx.conf"); !bytes.Equal(now, localBefore) {
			t.Errorf("this machine's /etc/nginx/nginx.conf changed: the plan edited a local file for nginx in a container")
		}
	}
}

// TestRollingUpdateFromScratch: a statically built plan in a FROM scratch
// container with only the engine's socket (and the host's network, to
// reach the containers its probes check) applies the rolling update under
// load, through the engine alone.
func TestRollingUpdateFromScratch(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startShellSeed(t, cli)
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	planFile, err := os.ReadFile(seedPlan(t, topo, "rolling-update.hcl", containerPathEdit...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img := scratchPlanImage(ctx, t, cli, planFile)

	name := testenv.UniqueName("nonstop-scratch-plan")
	args := append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), "/work/plan.hcl")
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: args, Env: []string{"HOME=/work", "DOCKER_CONFIG=/work/.docker"}},
		&container.HostConfig{NetworkMode: "host", Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	l := startLoad(topo.URL, 4)
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		l.Stop()
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		l.Stop()
		t.Fatal(err)
	}
	l.Stop()
	var out bytes.Buffer
	if rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		_, _ = stdcopy.StdCopy(&out, &out, rc)
		_ = rc.Close()
	}
	t.Logf("plan apply in a FROM scratch container (exit %d):\n%s", code, out.String())
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	if n := l.non2xx.Load(); n != 0 || l.requests.Load() < 100 {
		t.Errorf("load: %d requests, %d non-2xx; want >= 100 and none", l.requests.Load(), n)
	}
	if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
		t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
		t.Errorf("after the rolling update the config differs:\n%s", after)
	}
	// The journal, inside the plan's container, records drains of the
	// file as the container sees it: proof the edits went through it.
	rc, _, err := cli.CopyFromContainer(ctx, c.ID, "/work/.nonstop")
	if err != nil {
		t.Fatalf("reading the plan container's state: %v", err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	drains := 0
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		if strings.HasSuffix(h.Name, ".jsonl") {
			for _, line := range strings.Split(string(b), "\n") {
				var e struct{ Kind, Type string }
				if json.Unmarshal([]byte(line), &e) == nil && e.Kind == "done" && e.Type == "drain" && strings.Contains(line, `"config":"/etc/nginx/nginx.conf"`) {
					drains++
				}
			}
		}
	}
	if drains != 2 {
		t.Errorf("%d completed drains of /etc/nginx/nginx.conf in the journal, want 2", drains)
	}
}

// scratchPlanImage builds "FROM scratch" with a static plan (CGO_ENABLED=0)
// at /plan, the plan file at /work/plan.hcl and an empty /tmp.
func scratchPlanImage(ctx context.Context, t *testing.T, cli client.APIClient, planFile []byte) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plan")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/nonstop-deploy/nonstop/cmd/plan")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a static plan: %v\n%s", err, out)
	}
	planBin, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY plan /plan\nCOPY work /work\nCOPY tmp /tmp\nENTRYPOINT [\"/plan\"]\n")},
		{"plan", 0o755, planBin},
		{"work/plan.hcl", 0o644, planFile},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ref := testenv.UniqueName("nonstop-scratch-plan") + ":test"
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{})
	})
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("building %s: %s", ref, out)
	}
	return ref
}
