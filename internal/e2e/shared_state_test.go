// This file tests shared state (`plan { state = nginx.proxy }`): two CI
// runners, each with a fresh checkout of the same plan in a folder of its
// own, against one real nginx and engine. The lock and the journals live
// in the nginx container, so each runner sees what the other left: an
// apply killed on runner A is refused on runner B, named; `plan status`
// on B shows A's stale lock and unfinished apply; `plan rollback` on B
// puts things back (under load, 0 non-2xx, nginx.conf byte-identical); A
// then sees B's rollback and applies. While A's apply runs, B's is
// refused naming A, or with -lock-timeout waits for it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// sharedStateEdit makes the seed plan keep its state in its nginx's
// container.
var sharedStateEdit = []string{`  description = "Roll app1 and app2 to v2 behind nginx, one at a time"`,
	`  description = "Roll app1 and app2 to v2 behind nginx, one at a time"
  state       = nginx.proxy`}

// runnerCheckout copies a plan into a folder of its own, as a CI runner's
// fresh checkout: no .nonstop/ next to it.
func runnerCheckout(t testing.TB, plan, name string) string {
	t.Helper()
	src, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(plan), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.Base(plan))
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sharedCopy is the local copy of a runner's shared state.
func sharedCopy(plan string) string { return filepath.Join(stateDirOf(plan), "shared") }

func TestSharedStateTwoRunners(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startShellSeed(t, cli)
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	plan := seedPlan(t, topo, "rolling-update.hcl", append(slices.Clone(containerPathEdit), sharedStateEdit...)...)
	a, b := runnerCheckout(t, plan, "runner-a"), runnerCheckout(t, plan, "runner-b")
	vars := seedVars(topo)
	apply := func(plan string, extra ...string) []string {
		return append(append(append([]string{"apply", "-auto-approve"}, vars...), extra...), plan)
	}

	// Runner A is killed after app2's new container is deployed, before
	// its health check: app2 is drained and replaced.
	l := startLoad(topo.URL, 4)
	pa := startPlan(t, nil, apply(a, "-var", "version=v2")...)
	waitFor(t, "runner A's deploy of app2", 2*time.Minute, pa, func() bool {
		return hasEntry(journal(sharedCopy(a)), executor.KindDone, "step.deploy.app2")
	})
	pa.kill(t)
	// The engine ends A's session in the container once it sees A's
	// connection closed: a moment after the kill, not at it.
	waitFor(t, "A's session in the nginx container gone", 30*time.Second, nil, func() bool {
		_, out := runPlan(t, append(append([]string{"status"}, vars...), b)...)
		return strings.Contains(out, "STALE")
	})
	var idA string
	for _, e := range journal(sharedCopy(a)) {
		if e.Kind == executor.KindBegin {
			idA = e.ApplyID
		}
	}
	if _, err := os.Stat(stateDirOf(b)); !os.IsNotExist(err) {
		t.Fatalf("runner B's checkout has state before it ran anything: %v", err)
	}

	// Runner B, fresh, sees it.
	host, _ := os.Hostname()
	code, out := runPlan(t, apply(b, "-var", "version=v2")...)
	if code != 1 {
		t.Errorf("runner B's apply exited %d, want 1 (refused):\n%s", code, out)
	}
	for _, w := range []string{"an unfinished apply exists", "apply " + idA, fmt.Sprintf("pid %d on %s", pa.cmd.Process.Pid, host), "plan rollback"} {
		if !strings.Contains(out, w) {
			t.Errorf("runner B's refusal lacks %q:\n%s", w, out)
		}
	}
	code, out = runPlan(t, append(append([]string{"status"}, vars...), b)...)
	if code != 0 || !strings.Contains(out, "UNFINISHED") || !strings.Contains(out, "STALE") || !strings.Contains(out, idA) || !strings.Contains(out, "journal: nginx container") {
		t.Errorf("runner B's plan status (exit %d) should show A's unfinished apply and stale lock:\n%s", code, out)
	}

	code, out = runPlan(t, append(append([]string{"unlock"}, vars...), "20990101T000000.000000Z-000000", b)...)
	if code != 1 || !strings.Contains(out, "nothing was removed") {
		t.Errorf("runner B's plan unlock with a wrong ID exited %d, want 1 and nothing removed:\n%s", code, out)
	}

	// Runner B rolls A's apply back, from the journal on the target.
	code, out = runPlan(t, append(append([]string{"rollback"}, vars...), b)...)
	l.Stop()
	t.Logf("runner B's plan rollback (exit %d):\n%s", code, out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 0 || !strings.Contains(out, "Took over the lock") || !strings.Contains(out, "Rolled back apply "+idA) {
		t.Fatalf("runner B's rollback exited %d, want 0, taking over A's lock and rolling back %s:\n%s", code, idA, out)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx while A applied, died and B rolled back: %v", n, l.samples)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
		t.Errorf("after B's rollback nginx.conf is not byte-identical:\n%s", after)
	}
	serves(t, topo, "v1")

	// Runner A's copy still says unfinished; what it reads is the target.
	code, out = runPlan(t, append(append([]string{"status"}, vars...), a)...)
	if code != 0 || !strings.Contains(out, "Lock: none") || !strings.Contains(out, "rolled back") {
		t.Errorf("runner A's plan status (exit %d) should show B's rollback and no lock:\n%s", code, out)
	}
	code, out = runPlan(t, append(append([]string{"history"}, vars...), a)...)
	if code != 0 || !strings.Contains(out, "rollback") {
		t.Errorf("runner A's plan history (exit %d) should list B's rollback:\n%s", code, out)
	}

	// Runner A applies; meanwhile B is refused, naming A, then waits
	// for it with -lock-timeout and finds nothing left to do.
	hotfixSrc, err := os.ReadFile(seedPlan(t, topo, "rolling-update.hcl", append(slices.Clone(containerPathEdit), append(sharedStateEdit,
		`name        = "rolling-update"`, `name        = "hotfix"`)...)...))
	if err != nil {
		t.Fatal(err)
	}
	hotfix := scratchPlanImage(context.Background(), t, cli, hotfixSrc)
	inflight := slowRequest(topo.URL, 8*time.Second) // holds the first drain a few seconds
	time.Sleep(200 * time.Millisecond)
	l = startLoad(topo.URL, 4)
	pa = startPlan(t, nil, apply(a, "-var", "version=v2")...)
	waitFor(t, "runner A's apply under way", time.Minute, pa, func() bool {
		// A's copy still holds the killed apply's journal until A pulls.
		j := journal(sharedCopy(a))
		return len(j) > 0 && j[0].ApplyID != idA && hasEntry(j, executor.KindCheckpoint, "step.drain.app2")
	})
	code, out = runPlan(t, apply(b, "-var", "version=v2")...)
	if code != 1 || !strings.Contains(out, "locked by apply") || !strings.Contains(out, fmt.Sprintf("pid %d on %s", pa.cmd.Process.Pid, host)) {
		t.Errorf("runner B's apply during A's exited %d, want 1 naming A (pid %d):\n%s", code, pa.cmd.Process.Pid, out)
	}
	// Another plan (another name, so another state folder) that changes
	// the same containers, from a runner on "another machine": a static
	// plan in a container with only the engine's socket, so this
	// machine's target locks (/run/lock/nonstop) are not its. The target
	// locks kept beside the state folders refuse it, naming A.
	code, out = runScratchPlan(t, cli, hotfix, append(append([]string{"apply", "-auto-approve"}, vars...), "-var", "version=v2", "/work/plan.hcl")...)
	if code != 1 || !strings.Contains(out, "is being changed by apply") || !strings.Contains(out, fmt.Sprintf("pid %d on %s", pa.cmd.Process.Pid, host)) {
		t.Errorf("another plan's apply from another machine during A's exited %d, want 1 naming A's apply (pid %d):\n%s", code, pa.cmd.Process.Pid, out)
	}
	pb := startPlan(t, nil, apply(b, "-var", "version=v2", "-lock-timeout", "3m")...)
	codeA, outA := pa.wait(t)
	codeB, outB := pb.wait(t)
	l.Stop()
	if status := <-inflight; status != 200 {
		t.Errorf("the request in flight during A's drain got %d, want 200", status)
	}
	t.Logf("runner A's apply (exit %d):\n%s\nrunner B's apply (exit %d):\n%s", codeA, outA, codeB, outB)
	if codeA != 0 {
		t.Fatalf("runner A's apply exited %d, want 0", codeA)
	}
	// The test's nginx keeps the state in its own layer: apply says so.
	if !strings.Contains(outA, "warning: the plan's state in nginx container") || !strings.Contains(outA, "Mount a volume at /var/lib/nonstop") {
		t.Errorf("runner A's apply does not warn that no mount keeps the state")
	}
	if codeB != 0 || !strings.Contains(outB, "Nothing to do") {
		t.Errorf("runner B's apply, after waiting for A, exited %d; want 0 with nothing to do", codeB)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx during A's apply: %v", n, l.samples)
	}
	serves(t, topo, "v2")
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
		t.Errorf("after the rolling update (every server back) nginx.conf differs:\n%s", after)
	}
	// Both runners' copies now hold the same journals: the target's.
	ja, jb := journal(sharedCopy(a)), journal(sharedCopy(b))
	if len(ja) == 0 || len(ja) != len(jb) || ja[0].ApplyID != jb[0].ApplyID {
		t.Errorf("the runners' copies disagree on the last apply: A %d entries, B %d", len(ja), len(jb))
	}
}

// An nginx image without a shell cannot hold the state: apply refuses
// before anything changes, with a diagnostic at the plan's state
// attribute that says what the image needs.
func TestSharedStateNeedsShell(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{}) // the offline nginx image: no shell
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	plan := seedPlan(t, topo, "rolling-update.hcl", sharedStateEdit...)
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), plan)...)
	if code != 1 {
		t.Errorf("apply exited %d, want 1 (refused before any change):\n%s", code, out)
	}
	for _, w := range []string{"rolling-update.hcl line 10", "state       = nginx.proxy", "needs a shell, cat and rm"} {
		if !strings.Contains(out, w) {
			t.Errorf("the refusal lacks %q:\n%s", w, out)
		}
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
		t.Errorf("nginx.conf changed although apply was refused")
	}
	serves(t, topo, "v1")
}

// runScratchPlan runs the static plan of img (scratchPlanImage) in a
// container with only the engine's socket and the host's network: a
// runner on another machine, with a filesystem of its own.
func runScratchPlan(t *testing.T, cli client.APIClient, img string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: args, Env: []string{"HOME=/work", "DOCKER_CONFIG=/work/.docker"}},
		&container.HostConfig{NetworkMode: "host", Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}}, nil, nil, testenv.UniqueName("nonstop-runner"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) }()
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		t.Fatal(err)
	}
	var out bytes.Buffer
	if rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		_, _ = stdcopy.StdCopy(&out, &out, rc)
		_ = rc.Close()
	}
	return int(code), out.String()
}
