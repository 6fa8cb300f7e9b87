package dockerx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/google/go-cmp/cmp"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// testLabel marks every container and network a test creates, with a value
// unique to the test, so cleanup finds them all, including the containers
// Replace creates (they inherit the label) and backups.
const testLabel = "nonstop.dockerx-test"

type itest struct {
	t     *testing.T
	ctx   context.Context
	cli   *client.Client
	app   string // test app image
	label string
}

func newITest(t *testing.T) *itest {
	t.Helper()
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	app, err := testimage.App(ctx, cli)
	if err != nil {
		t.Fatalf("building the test app image: %v", err)
	}
	e := &itest{t: t, ctx: ctx, cli: cli, app: app, label: testenv.UniqueName("dockerx")}
	t.Cleanup(e.cleanup)
	return e
}

// cleanup removes every container and network labelled for this test, and
// the anonymous volumes of those containers, even when the test failed.
func (e *itest) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", testLabel+"="+e.label))
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		e.t.Errorf("cleanup: listing containers: %v", err)
	}
	var vols []string
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == "volume" && len(m.Name) == 64 { // anonymous
				vols = append(vols, m.Name)
			}
		}
		if err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			e.t.Errorf("cleanup: removing container %s: %v", c.Names, err)
		}
	}
	for _, v := range vols {
		_ = e.cli.VolumeRemove(ctx, v, true)
	}
	nets, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		e.t.Errorf("cleanup: listing networks: %v", err)
	}
	for _, n := range nets {
		if err := e.cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			e.t.Errorf("cleanup: removing network %s: %v", n.Name, err)
		}
	}
}

func (e *itest) network() string {
	e.t.Helper()
	name := testenv.UniqueName("dockerx-net")
	if _, err := e.cli.NetworkCreate(e.ctx, name, network.CreateOptions{Labels: map[string]string{testLabel: e.label}}); err != nil {
		e.t.Fatalf("creating network %s: %v", name, err)
	}
	return name
}

// create makes a container of the test app (not started), labelled for cleanup.
func (e *itest) create(name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) container.InspectResponse {
	e.t.Helper()
	if cfg == nil {
		cfg = &container.Config{}
	}
	if cfg.Image == "" {
		cfg.Image = e.app
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[testLabel] = e.label
	created, err := e.cli.ContainerCreate(e.ctx, cfg, hc, nc, nil, name)
	if err != nil {
		e.t.Fatalf("creating container %s: %v", name, err)
	}
	return e.inspect(created.ID)
}

func (e *itest) run(name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) container.InspectResponse {
	e.t.Helper()
	c := e.create(name, cfg, hc, nc)
	if err := e.cli.ContainerStart(e.ctx, c.ID, container.StartOptions{}); err != nil {
		e.t.Fatalf("starting container %s: %v", name, err)
	}
	return e.inspect(c.ID)
}

func (e *itest) inspect(ref string) container.InspectResponse {
	e.t.Helper()
	c, err := e.cli.ContainerInspect(e.ctx, ref)
	if err != nil {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return c
}

func (e *itest) gone(ref string) {
	e.t.Helper()
	if c, err := e.cli.ContainerInspect(e.ctx, ref); err == nil {
		e.t.Errorf("container %s still exists (%s, %s)", ref, c.Name, c.ID[:12])
	} else if !cerrdefs.IsNotFound(err) {
		e.t.Errorf("inspect %s: %v", ref, err)
	}
}

// waitBody polls the app in container ref on its IP (on network, "" = the
// only one) until it answers want, or fails the test with what it saw.
func (e *itest) waitBody(ref, netName, want string) {
	e.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ip, err := ContainerIP(e.ctx, e.cli, ref, netName)
		if err != nil {
			last = err.Error()
		} else {
			resp, err := hc.Get("http://" + net.JoinHostPort(ip, "3000") + "/")
			if err != nil {
				last = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) == want {
					return
				}
				last = fmt.Sprintf("%d %q", resp.StatusCode, b)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("container %s never answered %q on :3000; last: %s", ref, want, last)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// waitURL polls url until it answers want, or fails the test.
func waitURL(t *testing.T, url, want string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == want {
				return
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered %q; last: %s", url, want, last)
}

func aliases(c container.InspectResponse, netName string) []string {
	if c.NetworkSettings == nil || c.NetworkSettings.Networks[netName] == nil {
		return nil
	}
	return c.NetworkSettings.Networks[netName].Aliases
}

func volumeAt(c container.InspectResponse, dest string) string {
	for _, m := range c.Mounts {
		if m.Destination == dest {
			return m.Name
		}
	}
	return ""
}

func TestIntegrationReplaceUndo(t *testing.T) {
	e := newITest(t)
	front, back := e.network(), e.network()
	name := testenv.UniqueName("dockerx-app")
	project := testenv.UniqueName("proj")
	stopTimeout := 3
	hostPort := freePort(t)
	old := e.run(name, &container.Config{
		Env: []string{"MESSAGE=a", "KEEP=1"},
		Labels: map[string]string{
			LabelComposeProject: project,
			LabelComposeService: "app",
		},
		Volumes:     map[string]struct{}{"/data": {}},
		StopTimeout: &stopTimeout,
	}, &container.HostConfig{
		NetworkMode:   container.NetworkMode(front),
		PortBindings:  nat.PortMap{"3000/tcp": {{HostIP: "127.0.0.1", HostPort: hostPort}}},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		ExtraHosts:    []string{"db.test:127.0.0.1"},
	}, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		front: {Aliases: []string{"app-alias"}},
	}})
	if err := e.cli.NetworkConnect(e.ctx, back, old.ID, &network.EndpointSettings{Aliases: []string{"app-back"}}); err != nil {
		t.Fatal(err)
	}
	old = e.inspect(old.ID)
	t.Logf("old container's aliases as the engine reports them: %s %q, %s %q", front, aliases(old, front), back, aliases(old, back))
	e.waitBody(name, front, "Hi there, I love ! a")

	r, err := Replace(e.ctx, e.cli, old, Spec{Image: e.app, Env: map[string]string{"MESSAGE": "b"}})
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if r.Name != name || r.OldID != old.ID || r.BackupName != BackupName(name, old.ID) || !r.OldRunning || r.NewID == "" {
		t.Errorf("replacement = %+v", r)
	}

	nw := e.inspect(name)
	if nw.ID != r.NewID || nw.ID == old.ID {
		t.Fatalf("container %s is %s, want the new one %s", name, nw.ID[:12], r.NewID)
	}
	for netName, alias := range map[string]string{front: "app-alias", back: "app-back"} {
		got := aliases(nw, netName)
		if !slices.Contains(got, alias) {
			t.Errorf("new container's aliases on %s = %q, want %q among them", netName, got, alias)
		}
		if slices.Contains(got, old.ID[:12]) {
			t.Errorf("new container's aliases on %s = %q still hold the old short ID", netName, got)
		}
	}
	for k, v := range map[string]string{LabelComposeProject: project, LabelComposeService: "app", ReplacesLabel: old.ID, testimage.LabelKey: "app"} {
		if nw.Config.Labels[k] != v {
			t.Errorf("new container's label %s = %q, want %q", k, nw.Config.Labels[k], v)
		}
	}
	for _, want := range []string{"MESSAGE=b", "KEEP=1"} {
		if !slices.Contains(nw.Config.Env, want) {
			t.Errorf("new container's env %q lacks %s", nw.Config.Env, want)
		}
	}
	if slices.Contains(nw.Config.Env, "MESSAGE=a") {
		t.Errorf("new container's env %q still has MESSAGE=a", nw.Config.Env)
	}
	if d := cmp.Diff(old.HostConfig.PortBindings, nw.HostConfig.PortBindings); d != "" {
		t.Errorf("port bindings (-old +new):\n%s", d)
	}
	if nw.HostConfig.RestartPolicy != old.HostConfig.RestartPolicy || !slices.Equal(nw.HostConfig.ExtraHosts, old.HostConfig.ExtraHosts) {
		t.Errorf("restart policy / extra hosts: %+v %q, want %+v %q", nw.HostConfig.RestartPolicy, nw.HostConfig.ExtraHosts, old.HostConfig.RestartPolicy, old.HostConfig.ExtraHosts)
	}
	if v := volumeAt(old, "/data"); v == "" || volumeAt(nw, "/data") != v {
		t.Errorf("anonymous volume at /data: old %q, new %q; want the same", v, volumeAt(nw, "/data"))
	}
	if nw.Config.Hostname != nw.ID[:12] {
		t.Errorf("new container's hostname = %q, want its own short ID (the default)", nw.Config.Hostname)
	}
	if nw.Config.StopTimeout == nil || *nw.Config.StopTimeout != stopTimeout {
		t.Errorf("new container's StopTimeout = %v", nw.Config.StopTimeout)
	}
	t.Logf("new container's aliases: %s %q, %s %q", front, aliases(nw, front), back, aliases(nw, back))
	e.waitBody(name, front, "Hi there, I love ! b")
	e.waitBody(name, back, "Hi there, I love ! b")
	// The fixed host port moved over: create happened while old still held it.
	waitURL(t, "http://127.0.0.1:"+hostPort+"/", "Hi there, I love ! b")

	backup := e.inspect(r.BackupName)
	if backup.ID != old.ID || backup.State.Running {
		t.Errorf("backup %s: ID %s running %v; want the old container, stopped", r.BackupName, backup.ID[:12], backup.State.Running)
	}
	if c, err := FindContainer(e.ctx, e.cli, "app", project); err != nil || c.ID != r.NewID {
		t.Errorf("FindContainer by service during the deploy: %v, %v; want the new container, not the backup", c.ID, err)
	}

	if err := Undo(e.ctx, e.cli, r); err != nil {
		t.Fatalf("Undo: %v", err)
	}
	back1 := e.inspect(name)
	if back1.ID != old.ID || !back1.State.Running {
		t.Errorf("after Undo %s is %s running=%v, want the old container running", name, back1.ID[:12], back1.State.Running)
	}
	e.gone(r.NewID)
	e.gone(r.BackupName)
	if got := aliases(back1, front); !slices.Contains(got, "app-alias") {
		t.Errorf("old container's aliases after Undo = %q", got)
	}
	e.waitBody(name, front, "Hi there, I love ! a")
	waitURL(t, "http://127.0.0.1:"+hostPort+"/", "Hi there, I love ! a")

	if err := Undo(e.ctx, e.cli, r); err != nil {
		t.Errorf("second Undo: %v", err)
	}
	if err := Finalize(e.ctx, e.cli, r); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Finalize after Undo = %v, want a refusal", err)
	}
	if c := e.inspect(name); c.ID != old.ID || !c.State.Running {
		t.Errorf("after the second Undo and Finalize: %s running=%v", c.ID[:12], c.State.Running)
	}
}

func TestIntegrationReplaceFinalize(t *testing.T) {
	e := newITest(t)
	netName := e.network()
	name := testenv.UniqueName("dockerx-app")
	old := e.run(name, &container.Config{Env: []string{"MESSAGE=a"}}, &container.HostConfig{NetworkMode: container.NetworkMode(netName)}, nil)
	e.waitBody(name, "", "Hi there, I love ! a")

	r, err := Replace(e.ctx, e.cli, old, Spec{Env: map[string]string{"MESSAGE": "b"}}) // same image
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if err := Finalize(e.ctx, e.cli, r); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	e.gone(old.ID)
	e.gone(r.BackupName)
	if c := e.inspect(name); c.ID != r.NewID || !c.State.Running || c.Config.Image != e.app {
		t.Errorf("after Finalize %s is %s running=%v image %s", name, c.ID[:12], c.State.Running, c.Config.Image)
	}
	e.waitBody(name, "", "Hi there, I love ! b")
	if err := Finalize(e.ctx, e.cli, r); err != nil {
		t.Errorf("second Finalize: %v", err)
	}
	if err := Undo(e.ctx, e.cli, r); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("Undo after Finalize = %v", err)
	}
	if c := e.inspect(name); c.ID != r.NewID || !c.State.Running {
		t.Errorf("Undo after Finalize changed %s", name)
	}
}

// A missing image or a leftover backup is refused before anything changes.
func TestIntegrationReplaceRefuses(t *testing.T) {
	e := newITest(t)
	name := testenv.UniqueName("dockerx-app")
	old := e.run(name, &container.Config{Env: []string{"MESSAGE=a"}}, nil, nil)

	check := func(what string) {
		t.Helper()
		c := e.inspect(name)
		if c.ID != old.ID || !c.State.Running {
			t.Errorf("after %s: %s is %s running=%v, want the old container running", what, name, c.ID[:12], c.State.Running)
		}
	}

	missing := testenv.UniqueName("nonstop-missing") + ":v1"
	_, err := Replace(e.ctx, e.cli, old, Spec{Image: missing, Env: map[string]string{"MESSAGE": "b"}})
	if err == nil || !strings.Contains(err.Error(), "not present") {
		t.Errorf("Replace with a missing image = %v", err)
	}
	check("a missing image")
	e.gone(BackupName(name, old.ID))

	// Pulls are attempted only from loopback here: nothing else is reachable.
	unpullable := "127.0.0.1:1/" + missing
	err = ImageAvailable(e.ctx, e.cli, unpullable, func(s string) { t.Logf("pull progress: %s", s) })
	if err == nil || !strings.Contains(err.Error(), "image "+unpullable+" is not present and could not be pulled: ") {
		t.Errorf("ImageAvailable(%s) = %v", unpullable, err)
	} else {
		t.Logf("ImageAvailable: %v", err)
	}
	if err := ImageAvailable(e.ctx, e.cli, e.app, nil); err != nil {
		t.Errorf("ImageAvailable(%s) = %v", e.app, err)
	}

	leftover := e.create(BackupName(name, old.ID), nil, nil, nil)
	_, err = Replace(e.ctx, e.cli, old, Spec{Image: e.app})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Replace with a leftover backup = %v", err)
	}
	check("a leftover backup")
	if c := e.inspect(leftover.ID); c.Name != "/"+BackupName(name, old.ID) {
		t.Errorf("leftover renamed to %s", c.Name)
	}
}

// The old container is stopped with its own StopTimeout: an app that ignores
// SIGTERM with StopTimeout 1 is killed after about a second, not the default
// 10. (The exact timeout passed is unit-tested; this bound is loose because
// the machine may be loaded.)
func TestIntegrationReplaceStopTimeout(t *testing.T) {
	e := newITest(t)
	name := testenv.UniqueName("dockerx-app")
	one := 1
	old := e.run(name, &container.Config{Env: []string{"MESSAGE=a", "IGNORE_SIGTERM=1"}, StopTimeout: &one}, nil, nil)
	e.waitBody(name, "", "Hi there, I love ! a")
	start := time.Now()
	r, err := Replace(e.ctx, e.cli, old, Spec{Image: e.app, Env: map[string]string{"MESSAGE": "b", "IGNORE_SIGTERM": ""}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitBody(name, "", "Hi there, I love ! b")
	b := e.inspect(r.BackupName)
	if b.State.Running || b.State.ExitCode != 137 {
		t.Errorf("backup state %+v; want killed (137) after ignoring SIGTERM", *b.State)
	}
	finished, err := time.Parse(time.RFC3339Nano, b.State.FinishedAt)
	if err != nil {
		t.Fatal(err)
	}
	if d := finished.Sub(start); d > 9*time.Second {
		t.Errorf("old container was killed %s after Replace began; its StopTimeout is 1s", d)
	} else {
		t.Logf("old container killed %s after Replace began", d.Round(time.Millisecond))
	}
}

func TestIntegrationFindContainer(t *testing.T) {
	e := newITest(t)
	project := testenv.UniqueName("proj")
	other := testenv.UniqueName("proj")
	compose := func(p, svc string) *container.Config {
		return &container.Config{Labels: map[string]string{LabelComposeProject: p, LabelComposeService: svc}}
	}
	plainName := testenv.UniqueName("dockerx-find")
	plain := e.create(plainName, nil, nil, nil)
	web := e.create(project+"-web-1", compose(project, "web"), nil, nil)
	e.create(project+"-worker-1", compose(project, "worker"), nil, nil)
	e.create(project+"-worker-2", compose(project, "worker"), nil, nil)
	e.create(other+"-web-1", compose(other, "web"), nil, nil)

	for _, ref := range []string{plainName, plain.ID, plain.ID[:12]} {
		if c, err := FindContainer(e.ctx, e.cli, ref, ""); err != nil || c.ID != plain.ID {
			t.Errorf("FindContainer(%q) = %v, %v", ref, c.Name, err)
		}
	}
	if c, err := FindContainer(e.ctx, e.cli, "web", project); err != nil || c.ID != web.ID {
		t.Errorf("FindContainer(web, %s) = %v, %v", project, c.Name, err)
	}
	_, err := FindContainer(e.ctx, e.cli, "worker", project)
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), project+"-worker-1") || !strings.Contains(err.Error(), project+"-worker-2") {
		t.Errorf("FindContainer(worker) = %v, want ambiguity listing both", err)
	} else {
		t.Logf("ambiguous: %v", err)
	}
	typo := plainName[:len(plainName)-1] + "x"
	if plainName[len(plainName)-1] == 'x' {
		typo = plainName[:len(plainName)-1] + "y"
	}
	_, err = FindContainer(e.ctx, e.cli, typo, "")
	if err == nil || !strings.Contains(err.Error(), "did you mean") || !strings.Contains(err.Error(), plainName) {
		t.Errorf("FindContainer(%s) = %v, want a did-you-mean naming %s", typo, err, plainName)
	} else {
		t.Logf("absent: %v", err)
	}
}

func TestIntegrationProbes(t *testing.T) {
	e := newITest(t)
	netName := e.network()
	name := testenv.UniqueName("dockerx-probe")
	c := e.run(name, &container.Config{Env: []string{"MESSAGE=p"}}, &container.HostConfig{NetworkMode: container.NetworkMode(netName)}, nil)
	e.waitBody(name, netName, "Hi there, I love ! p")

	if _, err := ContainerIP(e.ctx, e.cli, name, "no-such-net"); err == nil || !strings.Contains(err.Error(), netName) {
		t.Errorf("ContainerIP on a wrong network = %v, want the networks listed", err)
	}
	if s, err := HealthStatus(e.ctx, e.cli, name); err != nil || s != "none" {
		t.Errorf("HealthStatus without HEALTHCHECK = %q, %v", s, err)
	}
	if ok, s, err := Running(e.ctx, e.cli, c.ID); err != nil || !ok || s != "running" {
		t.Errorf("Running = %v %q %v", ok, s, err)
	}

	// Running the app binary again fails to listen on the port in use.
	code, out, err := Exec(e.ctx, e.cli, name, []string{"/testapp"})
	if err != nil || code != 1 || !strings.Contains(out, "address already in use") {
		t.Errorf("Exec /testapp = %d %q %v; want exit 1 and the listen error", code, out, err)
	}
	code, out, err = Exec(e.ctx, e.cli, name, []string{"/no-such-binary", "arg"})
	t.Logf("Exec of a missing binary: code %d, output %q, err %v", code, out, err)
	if err == nil && code == 0 {
		t.Errorf("Exec of a missing binary succeeded")
	}

	// A HEALTHCHECK that always fails: starting, then unhealthy.
	sick := e.run(testenv.UniqueName("dockerx-sick"), &container.Config{
		Healthcheck: &container.HealthConfig{Test: []string{"CMD", "/testapp"}, Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 1},
	}, nil, nil)
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !seen["unhealthy"] {
		s, err := HealthStatus(e.ctx, e.cli, sick.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen[s] = true
		time.Sleep(100 * time.Millisecond)
	}
	if !seen["unhealthy"] {
		t.Errorf("health states seen %v, want unhealthy", seen)
	}
	if ok, s, _ := Running(e.ctx, e.cli, sick.ID); !ok || s != "running (unhealthy)" {
		t.Errorf("Running(unhealthy) = %v %q", ok, s)
	}

	// A bad knob makes the app exit 2 at start.
	bad := e.run(testenv.UniqueName("dockerx-bad"), &container.Config{Env: []string{"START_DELAY=bogus"}}, nil, nil)
	deadline = time.Now().Add(30 * time.Second)
	for {
		ok, s, err := Running(e.ctx, e.cli, bad.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if s != "exited (2)" {
				t.Errorf("state = %q, want exited (2)", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container with a bad knob still %s", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := ContainerIP(e.ctx, e.cli, bad.ID, ""); err == nil || !strings.Contains(err.Error(), "exited (2)") {
		t.Errorf("ContainerIP of an exited container = %v", err)
	}
	if _, _, err := Exec(e.ctx, e.cli, bad.ID, []string{"/testapp"}); err == nil {
		t.Errorf("Exec in an exited container succeeded")
	} else {
		t.Logf("Exec in an exited container: %v", err)
	}
}
