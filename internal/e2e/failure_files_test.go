package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// tree maps every file under root (but the skipped top-level folders) to
// its mode and a hash of its content.
func tree(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s {
				return filepath.SkipDir
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			v += " " + hex.EncodeToString(h[:8])
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree reports the differences between two trees.
func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, v := range after {
		if w, ok := before[p]; !ok {
			t.Errorf("%s: %s was created (%s)", what, p, v)
		} else if w != v {
			t.Errorf("%s: %s changed: %s -> %s", what, p, w, v)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s was removed", what, p)
		}
	}
}

// Issue #5 item 14: a plan writes the nginx config it declares, and its
// own state (journal and lock, 0600, under the plan's .nonstop/), and
// nothing else: not the other files next to the config (conf.d/), not the
// plan's folder, not $HOME or $TMPDIR. Checked after an apply that
// succeeds and one that rolls back; the declared config ends as it began
// (the rollout puts every server back).
func TestFailureWritesOnlyDeclaredFiles(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	// A neighbour of the declared config that nginx does not even load.
	if err := os.WriteFile(filepath.Join(topo.Dir, "conf.d", "other.conf"), []byte("# not Nonstop's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home, tmp := t.TempDir(), t.TempDir()
	env := []string{"HOME=" + home, "TMPDIR=" + tmp}
	// logs/ is nginx's own (error.log); the plans' folders are checked
	// on their own below.
	before := tree(t, topo.Dir, "logs", "ok", "broken")
	homeBefore, tmpBefore := tree(t, home), tree(t, tmp)

	for _, tc := range []struct {
		name, app2Env string
		wantCode      int
	}{
		{"ok", "", 0},
		{"broken", `FAIL = "1"`, 2},
	} {
		plan := writePlanIn(t, topo, tc.name, seedPlanText(topo, seedPlanOptions{App2Env: tc.app2Env, HealthTimeout: "3s"}))
		planDir := filepath.Dir(plan)
		planBefore := tree(t, planDir)
		code, out := runPlanEnv(t, env, "apply", "-auto-approve", plan)
		if code != tc.wantCode {
			t.Fatalf("%s: exit %d, want %d:\n%s", tc.name, code, tc.wantCode, out)
		}
		sameTree(t, tc.name+": the topology's folder (the declared nginx.conf included)", before, tree(t, topo.Dir, "logs", "ok", "broken"))
		sameTree(t, tc.name+": the plan's folder", planBefore, tree(t, planDir, executor.StateDir))
		sameTree(t, tc.name+": $HOME", homeBefore, tree(t, home))
		sameTree(t, tc.name+": $TMPDIR", tmpBefore, tree(t, tmp))
		// The state: the applies folder, the lock and the journals, all
		// private.
		state := stateDirOf(plan)
		err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); d.IsDir() && perm&0o077 != 0 || !d.IsDir() && perm != 0o600 {
				t.Errorf("%s: %s has mode %s; state must be private to its owner", tc.name, strings.TrimPrefix(p, planDir+"/"), info.Mode())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
