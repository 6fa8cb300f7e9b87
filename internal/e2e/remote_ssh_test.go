package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// sshEngine is a real OpenSSH server on a loopback port, for this test
// only: its own host key, one authorized key, its own log. The engine
// behind it is this machine's, reached as `docker -H ssh://` reaches one:
// ssh, then `docker system dial-stdio` on the far side.
type sshEngine struct {
	Host string // "ssh://root@127.0.0.1:PORT"
	// FarHost is the same server under a name that is not loopback,
	// "ssh://root@nonstop-far:PORT" (the test's ssh config maps it to
	// 127.0.0.1): plan treats that engine as another machine's.
	FarHost string
	// Bin is a folder to put first on PATH: its `ssh` runs the system ssh
	// with the test's client config (key, known_hosts, batch mode).
	// OpenSSH reads ~/.ssh from the password database, not $HOME, so a
	// temporary HOME alone would not reach it.
	Bin string
	log string
}

// startSSHEngine starts sshd and stops it when the test ends, even when it
// fails. With CI=true a missing sshd fails the test.
func startSSHEngine(t *testing.T) *sshEngine {
	t.Helper()
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but %s is missing (apt-get install -y openssh-server)", sshd)
		}
		t.Skipf("%s is missing (apt-get install -y openssh-server)", sshd)
	}
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("CI=true but the SSH engine test needs root (ssh://root@...)")
		}
		t.Skip("the SSH engine test needs root")
	}
	// sshd refuses to start without its privilege separation folder, which
	// Debian's service unit would create.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	hostKey, userKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "id_ed25519")
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nonstop-test-host", "-f", hostKey)
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nonstop-test-user", "-f", userKey)
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "authorized_keys"), string(pub), 0o600)
	port := loopbackPort(t)
	log := filepath.Join(dir, "sshd.log")
	writeTestFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
LogLevel VERBOSE
`, port, hostKey, filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid")), 0o600)
	cmd := exec.Command(sshd, "-D", "-f", filepath.Join(dir, "sshd_config"), "-E", log)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitListening(t, port, log)

	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub), 0o600)
	writeTestFile(t, filepath.Join(dir, "ssh_config"), fmt.Sprintf(`Host nonstop-far
  HostName 127.0.0.1

Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
`, userKey, filepath.Join(dir, "known_hosts")), 0o600)
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("no ssh client: %v", err)
	}
	writeTestFile(t, filepath.Join(bin, "ssh"), fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", sshPath, filepath.Join(dir, "ssh_config")), 0o755)
	return &sshEngine{Host: fmt.Sprintf("ssh://root@127.0.0.1:%d", port), FarHost: fmt.Sprintf("ssh://root@nonstop-far:%d", port), Bin: bin, log: log}
}

// Sessions counts the SSH logins the server accepted with the test's key.
func (s *sshEngine) Sessions(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("Accepted publickey for root"))
}

// Env is the extra environment for a process that reaches the engine
// through s: the test's ssh first on PATH, and DOCKER_HOST pointing
// nowhere, so that falling back on the local socket cannot pass for
// success.
func (s *sshEngine) Env() []string {
	return []string{"PATH=" + s.Bin + ":" + os.Getenv("PATH"), "DOCKER_HOST=unix:///nonexistent/nonstop-test.sock"}
}

func writeTestFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// loopbackPort is a loopback TCP port free a moment ago.
func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits (bounded) until something accepts on the port.
func waitListening(t *testing.T, port int, log string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(log)
	t.Fatalf("nothing listens on 127.0.0.1:%d after 15s; log:\n%s", port, b)
}

// TestSSHEngineContext: a Docker CLI context whose endpoint is ssh://
// reaches the engine through the SSH server, with the docker CLI's own
// connection helper.
func TestSSHEngineContext(t *testing.T) {
	testenv.Docker(t)
	s := startSSHEngine(t)
	cfg := t.TempDir()
	st := store.New(filepath.Join(cfg, "contexts"), store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} })))
	if err := st.CreateOrUpdate(store.Metadata{Name: "far", Metadata: map[string]any{},
		Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: s.Host}}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", s.Bin+":"+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "far")
	cli, err := dockerx.ConnectEndpoint(context.Background(), dockerx.Endpoint{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	v, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Sessions(t); n == 0 {
		t.Fatalf("the engine answered (%s) but no SSH session was accepted: not through ssh", v.Version)
	}
	t.Logf("engine %s through %s (context far, DOCKER_CONTEXT)", v.Version, s.Host)
	// A wrong port is an error that names the engine, not a hang.
	_, err = dockerx.ConnectEndpoint(context.Background(), dockerx.Endpoint{Host: fmt.Sprintf("ssh://root@127.0.0.1:%d", loopbackPort(t))})
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("a dead ssh engine: %v", err)
	}
}

// TestRollingUpdateThroughSSH runs the seed's rolling update with the
// plan's docker block pointing at ssh://root@127.0.0.1:PORT, under load.
func TestRollingUpdateThroughSSH(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	s := startSSHEngine(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	plan := seedPlan(t, topo, "rolling-update.hcl",
		"  compose_project = var.compose_project\n", "  compose_project = var.compose_project\n  host            = \""+s.Host+"\"\n")

	l := startLoad(topo.URL, 4)
	code, out := runPlanEnv(t, s.Env(), append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), plan)...)
	l.Stop()
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	if n := s.Sessions(t); n == 0 {
		t.Errorf("the apply succeeded but the SSH server accepted no session: the engine was not reached through ssh")
	} else {
		t.Logf("%d SSH sessions", n)
	}
	// As TestRollingUpdateUnderLoad: no error answer; a kept-alive POST
	// connection that nginx closes on a reload is a transport error, logged.
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if n := l.non2xx.Load(); n != 0 || l.requests.Load() < 100 {
		t.Errorf("load: %d requests, %d non-2xx; want >= 100 and none", l.requests.Load(), n)
	}
	got := answers(t, topo, 8)
	if len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
		t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
	}
	if names := projectContainers(t, cli, topo.Project); len(names) != 3 {
		t.Errorf("containers of the project after apply: %v; want the two apps and nginx", names)
	}
	// The journal records the engine as the block names it, so undos reach
	// it again from the record alone, and pins the image (built here, so by
	// its image ID).
	img, err := cli.ImageInspect(context.Background(), topo.Images.App)
	if err != nil {
		t.Fatal(err)
	}
	deploys := 0
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind != "done" || e.Type != "deploy" {
			continue
		}
		deploys++
		var rec struct {
			Engine      struct{ Host string }
			ImageDigest string `json:"image_digest"`
		}
		if err := json.Unmarshal(e.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Engine.Host != s.Host || rec.ImageDigest != img.ID {
			t.Errorf("%s: journal records engine %q and image %q; want %q and %q", e.Step, rec.Engine.Host, rec.ImageDigest, s.Host, img.ID)
		}
	}
	if deploys != 2 {
		t.Errorf("%d deploy records in the journal, want 2", deploys)
	}

	// A version that never becomes healthy is rolled back through ssh too:
	// the undo reconnects from the journal's record of the engine.
	ids := map[string]string{}
	for _, a := range topo.Apps {
		c, err := cli.ContainerInspect(context.Background(), a.Container)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.Container] = c.ID
	}
	broken := seedPlan(t, topo, "rolling-update.hcl",
		"  compose_project = var.compose_project\n", "  compose_project = var.compose_project\n  host            = \""+s.Host+"\"\n",
		`env        = { MESSAGE = "app2,${var.version}" }`, `env        = { MESSAGE = "app2,${var.version}", FAIL = "1" }`,
		`timeout           = "30s"`, `timeout           = "4s"`)
	code, out = runPlanEnv(t, s.Env(), append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), "-var", "version=v3", broken)...)
	t.Logf("broken version: plan apply (exit %d):\n%s", code, out)
	if code != 2 {
		t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
	}
	for name, id := range ids {
		c, err := cli.ContainerInspect(context.Background(), name)
		if err != nil || c.ID != id || !c.State.Running {
			t.Errorf("%s: want the container %s running again; got %v %v", name, id[:12], c.ID, err)
		}
	}
	if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
		t.Errorf("after the rollback, nginx answers %v; want app1,v2 and app2,v2", got)
	}
}
