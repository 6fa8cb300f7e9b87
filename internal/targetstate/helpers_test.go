// This file holds the tests' helpers: an nginx container per test, and
// the helper process (the test binary re-run) that holds a lock until it
// is killed, as a plan process would.
package targetstate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/shellnginx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// helperEnv, when set ("CONTAINER DIR ID [TARGET,...]"), makes the test
// binary a process that takes the lock (and those targets' locks), says
// "locked" and waits to be killed.
const helperEnv = "NONSTOP_TARGETSTATE_HELPER"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(runHelper(v))
	}
	os.Exit(m.Run())
}

// runHelper holds a lock until killed (or two minutes pass, so a helper
// whose test died does not stay).
func runHelper(v string) int {
	f := strings.Fields(v)
	if len(f) != 3 && len(f) != 4 {
		fmt.Fprintln(os.Stderr, "helper: want CONTAINER DIR ID [TARGET,...]")
		return 2
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ctx := context.Background()
	l, _, err := New(cli, f[0], f[1]).Lock(ctx, lockInfo(f[2]), 0, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	if len(f) == 4 {
		if err := l.LockTargets(ctx, strings.Split(f[3], ","), lockInfo(f[2]), 0); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
	}
	fmt.Println("locked")
	time.Sleep(2 * time.Minute)
	return 0
}

// startHelper starts a helper process holding the lock of id in dir of
// name, and returns it once it holds the lock. It is killed at the end of
// the test whatever happens.
func startHelper(t *testing.T, name, dir, id string, targets ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	v := name + " " + dir + " " + id
	if len(targets) > 0 {
		v += " " + strings.Join(targets, ",")
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+v)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	return cmd
}

// lockInfo is a holder as the runner would fill it.
func lockInfo(id string) executor.LockInfo {
	return executor.LockInfo{ID: id, PID: os.Getpid(), Host: "runner-" + id, Started: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), Plan: "plans/web.hcl", PlanHash: "sha256:ab"}
}

// startNginx runs a container of image (no network) and removes it when
// the test ends.
func startNginx(t testing.TB, ctx context.Context, cli client.APIClient, image string, start bool) string {
	t.Helper()
	name := testenv.UniqueName("nonstop-tstate")
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: image}, &container.HostConfig{NetworkMode: "none"}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if start {
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// shellNginx runs a container of the nginx image with sh, cat and rm.
func shellNginx(t testing.TB, ctx context.Context, cli client.APIClient) string {
	t.Helper()
	image, err := shellnginx.Image(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	return startNginx(t, ctx, cli, image, true)
}

// run runs a shell command in the container and returns its stdout.
func run(t testing.TB, ctx context.Context, s *Store, script string, args ...string) string {
	t.Helper()
	out, errOut, code, err := s.exec(ctx, append([]string{"sh", "-c", script, "sh"}, args...), nil)
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v: %s", script, code, err, errOut)
	}
	return string(out)
}

// eventually polls cond every 50 ms for up to limit (a bound for a hung
// engine, not a timing assertion).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); ; {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func assertFile(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s = %q, want %q", p, got, want)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v %v, want 0600", p, fi.Mode(), err)
	}
}

// assertEntries checks that dir holds exactly names.
func assertEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
