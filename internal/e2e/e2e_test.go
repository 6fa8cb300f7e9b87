// Package e2e runs the plan binary end to end against the real Docker
// Engine and a real nginx, with HTTP load through nginx while it works.
// Nothing here is mocked: a failed request is a real failed request.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

var planBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nonstop-e2e-bin-")
	if err != nil {
		panic(err)
	}
	planBin = filepath.Join(dir, "plan")
	out, err := exec.Command("go", "build", "-o", planBin, "github.com/nonstop-deploy/nonstop/cmd/plan").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building plan: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoFile returns a file of this repository.
func repoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startSeed starts the seed's topology and removes it when the test ends,
// whatever happens.
func startSeed(t testing.TB, cli client.APIClient, o seedtopo.Options) *seedtopo.Topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o.Log = testWriter{t}
	topo, err := seedtopo.Start(ctx, cli, o)
	if err != nil {
		t.Fatalf("starting the seed topology: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := topo.Close(ctx); err != nil {
			t.Errorf("removing the topology: %v", err)
		}
	})
	t.Cleanup(func() { // runs first: the topology is still there
		if t.Failed() {
			logTopology(t, cli, topo)
		}
	})
	return topo
}

// logTopology logs, for a failed test, what explains an answer nginx
// could not give: each app container's address on the topology's network
// and the end of nginx's error log (the upstream address it tried).
func logTopology(t testing.TB, cli client.APIClient, topo *seedtopo.Topology) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range topo.Apps {
		c, err := cli.ContainerInspect(ctx, a.Container)
		if err != nil {
			t.Logf("diagnostics: %s: %v", a.Container, err)
			continue
		}
		ip := ""
		if n := c.NetworkSettings.Networks[topo.Network]; n != nil {
			ip = n.IPAddress + " aliases " + strings.Join(n.Aliases, ",")
		}
		t.Logf("diagnostics: %s (%s) running=%v on %s: %s", a.Container, c.ID[:12], c.State.Running, topo.Network, ip)
	}
	if topo.NginxContainer == "" {
		return
	}
	rc, _, err := cli.CopyFromContainer(ctx, topo.NginxContainer, "/var/log/nginx/error.log")
	if err != nil {
		t.Logf("diagnostics: nginx's error log: %v", err)
		return
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Logf("diagnostics: nginx's error log: %v", err)
		return
	}
	b, _ := io.ReadAll(tr)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var out bytes.Buffer
	out.WriteString(strings.Join(lines[max(0, len(lines)-40):], "\n"))
	t.Logf("diagnostics: the end of nginx's error log:\n%s", out.String())
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// load is a bounded HTTP load through nginx: a few clients, each with its
// own keep-alive connection, POSTing as fast as answers come.
type load struct {
	requests, non2xx, transport atomic.Int64
	mu                          sync.Mutex
	samples                     []string
	stop                        chan struct{}
	wg                          sync.WaitGroup
}

func startLoad(url string, clients int) *load {
	l := &load{stop: make(chan struct{})}
	deadline := time.Now().Add(4 * time.Minute) // hard bound, whatever happens
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, Proxy: nil}}
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := hc.Post(url, "text/plain", strings.NewReader("ping"))
				l.requests.Add(1)
				if err != nil {
					l.transport.Add(1)
					l.sample("transport: " + err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					l.non2xx.Add(1)
					l.sample(fmt.Sprintf("status %d", resp.StatusCode))
				}
			}
		}()
	}
	return l
}

func (l *load) sample(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < 10 {
		l.samples = append(l.samples, s)
	}
}

func (l *load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// runPlan runs the plan binary and returns its exit code and output.
func runPlan(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, planBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running plan: %v", err)
	}
	return code, out.String()
}

// answers collects the distinct bodies nginx returns over n requests.
func answers(t *testing.T, topo *seedtopo.Topology, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := topo.Get(context.Background())
		if err != nil {
			t.Fatalf("GET through nginx: %v", err)
		}
		got[strings.TrimSpace(body)]++
	}
	return got
}

// projectContainers lists every container of the topology's project,
// including ones a deploy renamed.
func projectContainers(t *testing.T, cli client.APIClient, project string) []string {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, strings.TrimPrefix(c.Names[0], "/")+" ("+c.State+")")
	}
	return names
}

// seedPlan writes the repository's rolling-update plan next to the
// topology's proxy/nginx.conf, as a user's checkout would have it, with
// optional edits (for broken-build variants).
func seedPlan(t testing.TB, topo *seedtopo.Topology, name string, edits ...string) string {
	t.Helper()
	src := string(repoFile(t, "plans/"+name))
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("plan %s has no %q to edit", name, edits[i])
		}
		src = strings.ReplaceAll(src, edits[i], edits[i+1])
	}
	p := filepath.Join(topo.Dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func seedVars(topo *seedtopo.Topology) []string {
	return []string{"-var", "compose_project=" + topo.Project, "-var", "nginx_container=" + topo.NginxContainer, "-var", "image=" + topo.Images.App}
}

func TestRollingUpdateUnderLoad(t *testing.T) {
	for _, name := range []string{"rolling-update.hcl", "rolling-update-rollout.hcl", "canary.hcl"} {
		t.Run(name, func(t *testing.T) {
			cli := testenv.Docker(t)
			testenv.NginxBinary(t)
			topo := startSeed(t, cli, seedtopo.Options{})
			plan := seedPlan(t, topo, name)
			before, err := os.ReadFile(topo.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			if got := answers(t, topo, 6); got["Hi there, I love ! app1,v1"] == 0 || got["Hi there, I love ! app2,v1"] == 0 {
				t.Fatalf("before apply, nginx answers %v; want app1,v1 and app2,v1", got)
			}

			args := append([]string{"apply", "-auto-approve"}, seedVars(topo)...)
			if name == "canary.hcl" {
				args = append(args, "-var", "gate_url="+topo.URL) // its gates probe nginx
			}
			l := startLoad(topo.URL, 4)
			code, out := runPlan(t, append(args, plan)...)
			l.Stop()
			t.Logf("plan apply (exit %d):\n%s", code, out)
			t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
			if code != 0 {
				t.Fatalf("apply exit code %d, want 0", code)
			}
			if name == "canary.hcl" && (!strings.Contains(out, "app1:3000 now has weight 9") || !strings.Contains(out, "app1:3000 now has weight 1") ||
				strings.Count(out, "passed: ") != 2) {
				t.Errorf("the canary did not shift weights and pass both gates:\n%s", out)
			}
			if l.requests.Load() < 100 {
				t.Errorf("only %d requests during the apply: the load did not run", l.requests.Load())
			}
			if n := l.non2xx.Load(); n != 0 {
				t.Errorf("%d non-2xx answers during the rollout, want 0: %v", n, l.samples)
			}
			got := answers(t, topo, 8)
			if len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
				t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
			}
			after, _ := os.ReadFile(topo.ConfigPath)
			if !bytes.Equal(before, after) {
				t.Errorf("nginx.conf changed:\n--- before\n%s\n--- after\n%s", before, after)
			}
			if names := projectContainers(t, cli, topo.Project); len(names) != 3 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
				t.Errorf("containers of the project after apply: %v; want the two apps and nginx, no leftovers", names)
			}
		})
	}
}

func TestBrokenVersionRollsBack(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	// app2's v2 answers 500 to everything: it never becomes healthy.
	plan := seedPlan(t, topo, "rolling-update.hcl",
		`env        = { MESSAGE = "app2,${var.version}" }`, `env        = { MESSAGE = "app2,${var.version}", FAIL = "1" }`,
		`timeout           = "30s"`, `timeout           = "4s"`)
	before, _ := os.ReadFile(topo.ConfigPath)
	ids := map[string]string{}
	for _, a := range topo.Apps {
		ids[a.Container] = a.ID
	}

	l := startLoad(topo.URL, 4)
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), plan)...)
	l.Stop()
	t.Logf("plan apply (exit %d):\n%s", code, out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 2 {
		t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
	}
	if !strings.Contains(out, "step.health_check.app2 failed") {
		t.Errorf("output does not name the failed step:\n%s", out)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
	}
	got := answers(t, topo, 8)
	if len(got) != 2 || got["Hi there, I love ! app1,v1"] == 0 || got["Hi there, I love ! app2,v1"] == 0 {
		t.Errorf("after rollback, nginx answers %v; want app1,v1 and app2,v1", got)
	}
	after, _ := os.ReadFile(topo.ConfigPath)
	if !bytes.Equal(before, after) {
		t.Errorf("nginx.conf not byte-identical after rollback:\n%s", after)
	}
	for name, id := range ids {
		c, err := cli.ContainerInspect(context.Background(), name)
		if err != nil || c.ID != id || !c.State.Running {
			t.Errorf("%s: want the original container %s running again; got %v %v", name, id[:12], c.ID, err)
		}
	}
	if names := projectContainers(t, cli, topo.Project); len(names) != 3 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
		t.Errorf("containers after rollback: %v; want the two original apps and nginx only", names)
	}
	// The journal says the apply ended rolled back; status agrees.
	code, out = runPlan(t, "status", plan)
	if code != 0 || !strings.Contains(out, "failed, rolled back") {
		t.Errorf("plan status (exit %d):\n%s", code, out)
	}
}
