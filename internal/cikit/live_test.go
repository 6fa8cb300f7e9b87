// This file runs the kit's jobs that need the engine and nginx, dry-run and
// apply, against the seed's topology on the real engine, as they would run
// on a self-hosted runner next to it; and checks the apply job's
// concurrency, which keeps two applies from racing.
package cikit

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestWorkflowApplyConcurrency: on main, applies queue; none is cancelled
// mid-apply (that would roll back half a rollout).
func TestWorkflowApplyConcurrency(t *testing.T) {
	wf := loadWorkflow(t)
	apply := wf.Jobs["apply"]
	if apply == nil || apply.Concurrency == nil || apply.Concurrency.Group == nil {
		t.Fatal("the apply job has no concurrency group")
	}
	if g := apply.Concurrency.Group.Value; !strings.HasPrefix(g, "nonstop-apply-") {
		t.Errorf("apply's concurrency group %q", g)
	}
	if c := apply.Concurrency.CancelInProgress; c == nil || c.Value {
		t.Error("apply must set cancel-in-progress: false")
	}
	if apply.If == nil || apply.If.Value != "github.event_name == 'push'" {
		t.Errorf("apply must run on push only: if %v", apply.If)
	}
}

func TestWorkflowDryRunAndApplyLive(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	r, _ := newRunner(t, "", "")

	// The plans folder of the user's repository is the topology's folder:
	// the plan's config = "proxy/nginx.conf" is the file nginx loads.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo, err := seedtopo.Start(ctx, cli, seedtopo.Options{
		Project: testenv.UniqueName("nonstop-cikit"),
		Dir:     filepath.Join(r.workspace, "deploy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := topo.Close(ctx); err != nil {
			t.Errorf("removing the topology: %v", err)
		}
	})
	plan, err := os.ReadFile(filepath.Join("..", "..", "plans", "rolling-update.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(topo.Dir, "rolling-update.hcl"), plan, 0o644); err != nil {
		t.Fatal(err)
	}
	r.edits = []string{
		"NONSTOP_PLAN=deploy/rolling-update.hcl",
		"PLAN_VAR_compose_project=" + topo.Project,
		"PLAN_VAR_nginx_container=" + topo.NginxContainer,
		"PLAN_VAR_image=" + topo.Images.App,
	}
	r.ctx["vars.NONSTOP_STATE_DIR"] = ""

	dry := r.runJob("dry-run")
	if dry.failed {
		t.Fatal("the dry-run job failed")
	}
	review := dry.outputs["review"]
	for _, want := range []string{"`plan apply -dry-run`", "step.deploy.app2", `"app2,v1"`, `"app2,v2"`} {
		if !strings.Contains(review, want) {
			t.Errorf("the dry-run review lacks %q:\n%s", want, review)
		}
	}
	if body := get(t, topo.URL); !strings.Contains(body, ",v1") {
		t.Errorf("after the dry-run nginx answers %q: it changed something", body)
	}

	// No watch URL: the apply job refuses, before touching anything.
	r.ctx["vars.NONSTOP_WATCH_URL"] = ""
	refused := r.runJob("apply")
	if !refused.failed || !strings.Contains(refused.step(t, "apply").stdout, "::error title=NONSTOP_WATCH_URL is not set::") {
		t.Fatalf("apply without NONSTOP_WATCH_URL: %+v", refused)
	}

	r.ctx["vars.NONSTOP_WATCH_URL"] = topo.URL
	applied := r.runJob("apply")
	if applied.failed {
		t.Fatal("the apply job failed")
	}
	out := applied.step(t, "apply").stdout
	if !strings.Contains(out, "Apply complete: 8 steps.") || !strings.Contains(out, " 0 failed;") {
		t.Errorf("apply's output lacks the completion or the watch's 0 failed:\n%s", out)
	}
	for i := 0; i < 4; i++ {
		if body := get(t, topo.URL); !strings.Contains(body, ",v2") {
			t.Errorf("after the apply job nginx answers %q", body)
		}
	}
	// The state outlives the checkout: it is in the runner's home.
	state := filepath.Join(r.home, ".nonstop-state", "nonstop-user", "deploys")
	if _, err := os.Stat(filepath.Join(state, "history.jsonl")); err != nil {
		t.Errorf("no history in the state folder: %v", err)
	}
	summary, err := os.ReadFile(filepath.Join(r.temp, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "applied") || !strings.Contains(string(summary), "Lock: none") {
		t.Errorf("the job summary:\n%s", summary)
	}
}

// get answers one request through nginx on a fresh connection.
func get(t *testing.T, url string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
