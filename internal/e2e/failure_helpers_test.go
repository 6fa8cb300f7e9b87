package e2e

// Helpers of the failure tests (failure_*_test.go): a plan generator for
// the seed's topology with fault knobs, the plan binary run in the
// background and killed or interrupted at a given journal entry, snapshots
// of everything a rollback must restore, and a Docker socket proxy that a
// test can cut.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// seedPlanOptions shapes the rolling update that seedPlanText writes: the
// seed's eight steps (app2 then app1: drain, deploy, health_check,
// restore), with knobs for the failure being tested.
type seedPlanOptions struct {
	// App2Env is extra HCL for app2's new env map, e.g. `CRASH_AFTER = "2s"`.
	App2Env string
	// HealthTimeout is each health check's timeout (default 10s).
	HealthTimeout string
	// Pre adds a first step, health_check "pre" on app1 for about PreFor,
	// that drain.app2 waits for: a window after preflight and before any
	// change.
	PreFor time.Duration
	// SteadyFor adds health_check "app1_steady" on app1 for about that
	// long between app2's health check and its restore: a window after
	// app2 was found healthy and before it is put back.
	SteadyFor time.Duration
	// BetweenFor adds health_check "between" on app1 for about that long
	// after app2's restore, that drain.app1 waits for: a window after app2
	// is back in rotation and before the next target.
	BetweenFor time.Duration
	// DrainTimeout is nginx's drain_timeout (default 10s).
	DrainTimeout string
	// DeployTimeout is each deploy's timeout (default: the step's own).
	DeployTimeout string
	// Extra is appended to the plan (variables, locals).
	Extra string
	// App2EnvExpr replaces app2's whole env expression when set.
	App2EnvExpr string
}

// seedPlanText writes the plan for topo; `var.version` is the version.
func seedPlanText(topo *seedtopo.Topology, o seedPlanOptions) string {
	if o.HealthTimeout == "" {
		o.HealthTimeout = "10s"
	}
	if o.DrainTimeout == "" {
		o.DrainTimeout = "10s"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `variable "version" {
  default = "v2"
}

docker "local" {
  compose_project = %q
}

nginx "proxy" {
  container     = %q
  config        = %q
  upstream      = "apps"
  drain_timeout = %q
}
%s
`, topo.Project, topo.NginxContainer, topo.ConfigPath, o.DrainTimeout, o.Extra)
	// probes returns a health check lasting about d on an always-healthy app.
	probes := func(name string, d time.Duration, deps string) string {
		n := max(2, int(d/(250*time.Millisecond)))
		return fmt.Sprintf(`
step "health_check" %q {
  container = "app1"
  http {
    port = 3000
  }
  interval          = "250ms"
  healthy_threshold = %d
  timeout           = "%s"
  depends_on        = [%s]
}
`, name, n, d+20*time.Second, deps)
	}
	if o.PreFor > 0 {
		b.WriteString(probes("pre", o.PreFor, ""))
	}
	prev := ""
	if o.PreFor > 0 {
		prev = "step.health_check.pre"
	}
	for _, app := range []string{"app2", "app1"} {
		env := fmt.Sprintf(`{ MESSAGE = "%s,${var.version}" }`, app)
		if app == "app2" && o.App2EnvExpr != "" {
			env = o.App2EnvExpr
		} else if app == "app2" && o.App2Env != "" {
			env = fmt.Sprintf(`{ MESSAGE = "%s,${var.version}", %s }`, app, o.App2Env)
		}
		deployTimeout := ""
		if o.DeployTimeout != "" {
			deployTimeout = fmt.Sprintf("\n  timeout    = %q", o.DeployTimeout)
		}
		fmt.Fprintf(&b, `
step "drain" %[1]q {
  nginx      = nginx.proxy
  server     = "%[1]s:3000"
  depends_on = [%[2]s]
}

step "deploy" %[1]q {
  container  = %[1]q
  image      = %[3]q
  env        = %[4]s
  depends_on = [step.drain.%[1]s]%[6]s
}

step "health_check" %[1]q {
  container = %[1]q
  http {
    port        = 3000
    expect_body = "%[1]s,${var.version}"
  }
  interval          = "200ms"
  timeout           = %[5]q
  healthy_threshold = 2
  depends_on        = [step.deploy.%[1]s]
}
`, app, prev, topo.Images.App, env, o.HealthTimeout, deployTimeout)
		before := "step.health_check." + app
		if app == "app2" && o.SteadyFor > 0 {
			b.WriteString(probes("app1_steady", o.SteadyFor, "step.health_check.app2"))
			before = "step.health_check.app1_steady"
		}
		fmt.Fprintf(&b, `
step "restore" %[1]q {
  nginx      = nginx.proxy
  server     = "%[1]s:3000"
  depends_on = [%[2]s]
}
`, app, before)
		prev = "step.restore." + app
		if app == "app2" && o.BetweenFor > 0 {
			b.WriteString(probes("between", o.BetweenFor, prev))
			prev = "step.health_check.between"
		}
	}
	return b.String()
}

// writePlanIn writes a plan into its own folder under topo.Dir, so that
// its state (.nonstop/) is its own, and returns the plan's path.
func writePlanIn(t *testing.T, topo *seedtopo.Topology, name, src string) string {
	t.Helper()
	dir := filepath.Join(topo.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "plan.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func stateDirOf(plan string) string { return filepath.Join(filepath.Dir(plan), executor.StateDir) }

// proc is the plan binary running in the background.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	code int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPlan runs the plan binary with args; env entries are added to the
// environment. The process is killed when the test ends, if still running.
func startPlan(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(planBin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting plan: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end (at most 3 minutes) and returns its
// exit code and output.
func (p *proc) wait(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("plan did not end within 3 minutes:\n%s", p.out.String())
	}
	return p.code, p.out.String()
}

// kill sends SIGKILL: the process gets no chance to clean up or journal.
func (p *proc) kill(t *testing.T) string {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	code, out := p.wait(t)
	if code != -1 && code != 137 {
		t.Logf("killed plan exited %d", code)
	}
	return out
}

// runPlanEnv is runPlan with extra environment.
func runPlanEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return startPlan(t, env, args...).wait(t)
}

// journal returns the entries of the newest journal under stateDir.
func journal(stateDir string) []executor.Entry {
	path, err := executor.LastJournal(stateDir)
	if err != nil || path == "" {
		return nil
	}
	entries, _ := executor.ReadJournal(path)
	return entries
}

// hasEntry reports whether entries hold one of this kind for this step.
func hasEntry(entries []executor.Entry, kind, step string) bool {
	return slices.ContainsFunc(entries, func(e executor.Entry) bool { return e.Kind == kind && e.Step == step })
}

// waitFor polls until cond holds (every 20ms), failing the test after
// timeout or when p (if not nil) exits first.
func waitFor(t *testing.T, what string, timeout time.Duration, p *proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p != nil && p.exited() {
			t.Fatalf("plan exited (%d) before %s:\n%s", p.code, what, p.out.String())
		}
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.out.String()
			}
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEntry waits until the running apply's journal has the entry.
func waitEntry(t *testing.T, p *proc, plan, kind, step string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("journal entry %s %s", kind, step), 90*time.Second, p, func() bool {
		return hasEntry(journal(stateDirOf(plan)), kind, step)
	})
}

// appState is what a rollback must give back of one app container.
type appState struct {
	ID, Name, Image string
	Running         bool
	Env             []string
	Aliases         []string
}

// snapshot is everything of the topology an apply may change.
type snapshot struct {
	Apps       map[string]appState // by service
	Config     string              // nginx.conf
	Containers []string            // every container of the project, with its state
}

func takeSnapshot(t *testing.T, cli client.APIClient, topo *seedtopo.Topology) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{Apps: map[string]appState{}}
	for _, a := range topo.Apps {
		c, err := cli.ContainerInspect(ctx, a.Container)
		if err != nil {
			t.Fatalf("inspect %s: %v", a.Container, err)
		}
		st := appState{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Image: c.Image, Running: c.State.Running, Env: slices.Sorted(slices.Values(c.Config.Env))}
		if ep := c.NetworkSettings.Networks[topo.Network]; ep != nil {
			for _, al := range ep.Aliases {
				if !strings.HasPrefix(c.ID, al) { // Docker adds the short ID itself
					st.Aliases = append(st.Aliases, al)
				}
			}
			sort.Strings(st.Aliases)
		}
		s.Apps[a.Service] = st
	}
	cfg, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s.Config = string(cfg)
	s.Containers = projectContainers(t, cli, topo.Project)
	sort.Strings(s.Containers)
	return s
}

// sameSnapshot fails the test where after differs from before.
func sameSnapshot(t *testing.T, before, after snapshot) {
	t.Helper()
	for svc, b := range before.Apps {
		a := after.Apps[svc]
		if a.ID != b.ID || a.Name != b.Name || a.Image != b.Image || a.Running != b.Running ||
			!slices.Equal(a.Env, b.Env) || !slices.Equal(a.Aliases, b.Aliases) {
			t.Errorf("%s differs from before:\n before %+v\n after  %+v", svc, b, a)
		}
	}
	if before.Config != after.Config {
		t.Errorf("nginx.conf is not byte-identical:\n--- before\n%s\n--- after\n%s", before.Config, after.Config)
	}
	if !slices.Equal(before.Containers, after.Containers) {
		t.Errorf("containers differ:\n before %v\n after  %v", before.Containers, after.Containers)
	}
}

// serves checks that nginx answers with exactly each app at version.
func serves(t *testing.T, topo *seedtopo.Topology, version string) {
	t.Helper()
	got := answers(t, topo, 8)
	for _, a := range topo.Apps {
		if got["Hi there, I love ! "+a.Service+","+version] == 0 {
			t.Errorf("nginx answers %v; want %s,%s among them", got, a.Service, version)
		}
	}
	if len(got) != len(topo.Apps) {
		t.Errorf("nginx answers %v; want only version %s", got, version)
	}
}

// nginxWorkers lists the nginx container's worker PIDs: the same list
// before and after means nginx was not reloaded.
func nginxWorkers(t *testing.T, cli client.APIClient, topo *seedtopo.Topology) []string {
	t.Helper()
	top, err := cli.ContainerTop(context.Background(), topo.NginxContainer, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, cmd := -1, -1
	for i, h := range top.Titles {
		switch h {
		case "PID":
			pid = i
		case "CMD", "COMMAND":
			cmd = i
		}
	}
	var out []string
	for _, p := range top.Processes {
		if strings.Contains(strings.Join(p[cmd:], " "), "worker process") {
			out = append(out, p[pid])
		}
	}
	sort.Strings(out)
	return out
}

// slowRequest starts a GET that the app answers after d, to url, and
// returns a channel with its status (0 on a transport error).
func slowRequest(url string, d time.Duration) <-chan int {
	ch := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: d + 30*time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
		resp, err := c.Get(url + "?sleep=" + d.String())
		if err != nil {
			ch <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	return ch
}

// dockerProxy forwards a unix socket to the machine's Docker Engine, and
// can be cut (every connection closed, the socket removed) and resumed:
// an engine going away, without touching the machine's engine.
type dockerProxy struct {
	path   string
	target func() (net.Conn, error)
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startDockerProxy(t *testing.T, cli *client.Client) *dockerProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u, err := url.Parse(cli.DaemonHost())
	if err != nil {
		t.Fatal(err)
	}
	network, addr := u.Scheme, u.Path
	if network == "tcp" {
		addr = u.Host
	}
	p := &dockerProxy{path: filepath.Join(dir, "docker.sock"), conns: map[net.Conn]bool{},
		target: func() (net.Conn, error) { return net.Dial(network, addr) }}
	p.resume(t)
	t.Cleanup(p.cut)
	return p
}

// Host is the DOCKER_HOST value that goes through the proxy.
func (p *dockerProxy) Host() string { return "unix://" + p.path }

func (p *dockerProxy) resume(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *dockerProxy) forward(c net.Conn) {
	up, err := p.target()
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut makes the engine unreachable: the socket goes away and every open
// connection is closed.
func (p *dockerProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close() // removes the socket file
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// appContainer inspects a container by name or ID.
func appContainer(t *testing.T, cli client.APIClient, name string) container.InspectResponse {
	t.Helper()
	c, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
