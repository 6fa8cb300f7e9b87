package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// Issue #9 section 1: apply edits only what nginx runs. A plan whose config
// is a copy of the mounted nginx.conf is refused before any change (it
// used to "drain" in 100 ms, exit 0, and replace containers nginx still
// sent traffic to); a mounted file replaced after the preflight (the
// container keeps reading the old inode) fails the first drain, with
// nothing changed.
func TestApplyEditsOnlyWhatNginxLoads(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	apply := func(plan string) []string { return []string{"apply", "-auto-approve", "-var", "version=v2", plan} }
	orig, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a copy of the config is refused", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		workers := nginxWorkers(t, cli, topo)
		cp := filepath.Join(topo.Dir, "copied-config", "nginx.conf")
		if err := os.MkdirAll(filepath.Dir(cp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		src := strings.Replace(seedPlanText(topo, seedPlanOptions{}), fmt.Sprintf("config        = %q", topo.ConfigPath), fmt.Sprintf("config        = %q", cp), 1)
		if !strings.Contains(src, cp) {
			t.Fatal("the plan does not point at the copy")
		}
		plan := writePlanIn(t, topo, "copied-config-plan", src)
		code, out := runPlan(t, apply(plan)...)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit %d, want 1 (refused, nothing changed)", code)
		}
		for _, w := range []string{
			fmt.Sprintf("container %q does not load %s", topo.NginxContainer, cp),
			"/etc/nginx/nginx.conf (this machine's " + topo.ConfigPath + ")",
			"bind " + topo.ConfigPath + " -> /etc/nginx/nginx.conf",
			fmt.Sprintf("Fix: set the nginx block's config to %q", topo.ConfigPath),
		} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		if got, _ := os.ReadFile(cp); string(got) != string(orig) {
			t.Errorf("the copy changed:\n%s", got)
		}
		if got := nginxWorkers(t, cli, topo); !slices.Equal(got, workers) {
			t.Errorf("nginx reloaded: workers %v -> %v", workers, got)
		}
		serves(t, topo, "v1")
	})

	// Last: it leaves the nginx container reading a file the host no
	// longer has.
	t.Run("a mount replaced after the preflight fails the drain", func(t *testing.T) {
		before := checkClean(t, cli, topo)
		workers := nginxWorkers(t, cli, topo)
		plan := writePlanIn(t, topo, "replaced-config", seedPlanText(topo, seedPlanOptions{PreFor: 2 * time.Second}))
		p := startPlan(t, nil, apply(plan)...)
		waitEntry(t, p, plan, "intent", "step.health_check.pre")
		// An editor's save: a new file renamed over the mounted one, same
		// bytes. The container keeps the old inode.
		tmp := topo.ConfigPath + ".new"
		if err := os.WriteFile(tmp, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, topo.ConfigPath); err != nil {
			t.Fatal(err)
		}
		code, out := p.wait(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 2 || !strings.Contains(out, "things are as they were before the apply") {
			t.Errorf("exit %d, want 2 (the drain failed, nothing left changed)", code)
		}
		for _, w := range []string{"step.drain.app2", "reads /etc/nginx/nginx.conf", "not what was written to " + topo.ConfigPath} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		if strings.Contains(out, "drained app2") {
			t.Error("the drain was reported done")
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		if got := nginxWorkers(t, cli, topo); !slices.Equal(got, workers) {
			t.Errorf("nginx reloaded: workers %v -> %v", workers, got)
		}
		serves(t, topo, "v1")
	})
}

// Issue #9 section 1, second half: a reload that does not take fails the
// step, which rolls back. Host form: a file dropped into conf.d after the
// preflight listens on a port that is taken; `nginx -t` binds nothing and
// passes, the master refuses the config at reload and keeps its old
// workers.
func TestApplyReloadNotTakenFailsTheStep(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{HostNginx: true})
	src := seedPlanText(topo, seedPlanOptions{PreFor: 2 * time.Second})
	src = strings.Replace(src, fmt.Sprintf("container     = %q\n", topo.NginxContainer),
		fmt.Sprintf("pid_file      = %q\n  main_config   = %q\n", topo.NginxPIDFile, topo.ConfigPath), 1)
	for _, a := range topo.Apps {
		src = strings.ReplaceAll(src, fmt.Sprintf("%q", a.Service+":3000"), fmt.Sprintf("%q", a.Server))
	}
	if !strings.Contains(src, "pid_file") {
		t.Fatalf("not a host-form plan:\n%s", src)
	}
	plan := writePlanIn(t, topo, "reload-not-taken", src)
	before := takeSnapshot(t, cli, topo)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := startPlan(t, nil, "apply", "-auto-approve", "-var", "version=v2", plan)
	waitEntry(t, p, plan, "intent", "step.health_check.pre")
	extra := filepath.Join(topo.Dir, "conf.d", "taken.conf")
	if err := os.WriteFile(extra, []byte("server {\n    listen "+taken.Addr().String()+";\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(extra) })
	code, out := p.wait(t)
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 2 || !strings.Contains(out, "things are as they were before the apply") {
		t.Errorf("exit %d, want 2 (the drain failed, nothing left changed)", code)
	}
	for _, w := range []string{"step.drain.app2", "reload not confirmed", "no new worker generation"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if strings.Contains(out, "drained app2") {
		t.Error("the drain was reported done")
	}
	sameSnapshot(t, before, takeSnapshot(t, cli, topo))
	serves(t, topo, "v1")
}
