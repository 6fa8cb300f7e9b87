package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

var watchLine = regexp.MustCompile(`watch (\S+): (\d+) requests, (\d+) failed`)

// apply -watch measures the rollout through nginx: the seed's update loses
// nothing; a plan that recreates a container without draining it loses
// requests, which the gate turns into a rollback (exit 2).
func TestApplyWatch(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})

	t.Run("rolling update loses nothing", func(t *testing.T) {
		plan := seedPlan(t, topo, "rolling-update.hcl")
		code, out := runPlan(t, append(append([]string{"apply", "-auto-approve", "-watch", topo.URL, "-watch-rate", "100"}, seedVars(topo)...), plan)...)
		t.Logf("exit %d:\n%s", code, out)
		m := watchLine.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("exit %d, watch line %v; want 0 and a watch summary", code, m)
		}
		if m[2] == "0" || m[3] != "0" {
			t.Errorf("watch saw %s requests, %s failed; want some requests and 0 failed", m[2], m[3])
		}
	})

	t.Run("undrained recreate trips the gate", func(t *testing.T) {
		// Recreate both apps without taking them out of nginx: nginx keeps
		// the old containers' addresses until something reloads it, so once
		// both old containers are stopped every request fails (the seed's
		// "naive recreate").
		src := fmt.Sprintf(`
docker "local" {
  compose_project = %q
}

step "deploy" "app" {
  for_each  = toset(["app1", "app2"])
  container = each.key
  image     = %q
  env       = { MESSAGE = "${each.key},v3" }
}

step "health_check" "app" {
  for_each          = toset(["app1", "app2"])
  container         = each.key
  interval          = "500ms"
  healthy_threshold = 6
  http {
    port = 3000
  }
  depends_on = [step.deploy.app[each.key]]
}
`, topo.Project, topo.Images.App)
		ids := map[string]string{}
		for _, a := range topo.Apps {
			c, err := cli.ContainerInspect(context.Background(), a.Container)
			if err != nil {
				t.Fatal(err)
			}
			ids[a.Container] = c.ID
		}
		plan := filepath.Join(topo.Dir, "undrained.hcl")
		if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runPlan(t, "apply", "-auto-approve", "-parallelism", "1", "-watch", topo.URL, "-watch-rate", "100", plan)
		t.Logf("exit %d:\n%s", code, out)
		if code != 2 {
			t.Fatalf("exit %d, want 2 (the watch gate rolled the apply back)", code)
		}
		if !strings.Contains(out, "more than -watch-max-failures 0") {
			t.Errorf("output does not say why it stopped:\n%s", out)
		}
		// The rollback puts the original containers back (same IDs). This
		// plan has no nginx step, so nothing reloads nginx: the point of the
		// test is the gate, not the plan.
		for _, a := range topo.Apps {
			c, err := cli.ContainerInspect(context.Background(), a.Container)
			if err != nil || !c.State.Running || ids[a.Container] != c.ID {
				t.Errorf("%s after the rollback: %v running=%v id=%.12s, want the container from before the apply (%.12s)", a.Container, err, c.State != nil && c.State.Running, c.ID, ids[a.Container])
			}
		}
	})
}
