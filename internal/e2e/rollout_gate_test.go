package e2e

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// A rollout with a gate phase judges each batch through nginx before the
// next one starts: app2's new version answers 500 to everything (its tcp
// health check passes: only the gate can tell), so the gate after batch 1
// fails, app1 is never drained, and the plan rolls back.
func TestRolloutGate(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	before, _ := os.ReadFile(topo.ConfigPath)
	plan := writePlanIn(t, topo, "rollout-gate", fmt.Sprintf(`
docker "local" {
  compose_project = %q
}

nginx "proxy" {
  container     = %q
  config        = %q
  upstream      = "apps"
  drain_timeout = "10s"
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["app2", "app1"]
  server  = "${target}:3000"

  deploy {
    image = %q
    env   = { MESSAGE = "${target},v2", FAIL = target == "app2" ? "1" : "0" }
  }

  health_check {
    tcp {
      port = 3000
    }
    interval = "200ms"
    timeout  = "30s"
  }

  gate {
    url      = %q
    duration = "2s"
    rate     = 50
  }
}
`, topo.Project, topo.NginxContainer, topo.ConfigPath, topo.Images.App, topo.URL))
	code, out := runPlan(t, "apply", "-auto-approve", plan)
	t.Logf("exit %d:\n%s", code, out)
	if code != 2 {
		t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
	}
	if !strings.Contains(out, "rollout.apps.gate[1] failed") || !regexp.MustCompile(`gate failed: [1-9]\d* of \d+ requests failed \(500×`).MatchString(out) {
		t.Errorf("the output does not name the batch's gate and its numbers")
	}
	if !regexp.MustCompile(`rollout\.apps\["app1"\]\.drain\s+skipped`).MatchString(out) {
		t.Errorf("the next batch's drain was not skipped after the failed gate")
	}
	got := answers(t, topo, 8)
	if len(got) != 2 || got["Hi there, I love ! app1,v1"] == 0 || got["Hi there, I love ! app2,v1"] == 0 {
		t.Errorf("after rollback, nginx answers %v; want app1,v1 and app2,v1", got)
	}
	after, _ := os.ReadFile(topo.ConfigPath)
	if !bytes.Equal(before, after) {
		t.Errorf("nginx.conf not byte-identical after rollback:\n%s", after)
	}
}
