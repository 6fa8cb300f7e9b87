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

// rolloutGatePlan rolls app2 then app1 to a new version, one at a time,
// with a gate through nginx after each; failing makes app2's new version
// answer 500 to everything (its tcp health check still passes: only the
// gate can tell).
func rolloutGatePlan(topo *seedtopo.Topology, failing string) string {
	return fmt.Sprintf(`
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
    env   = { MESSAGE = "${target},v2", FAIL = target == %q ? "1" : "0" }
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
`, topo.Project, topo.NginxContainer, topo.ConfigPath, topo.Images.App, failing, topo.URL)
}

// A rollout with a gate phase judges each batch through nginx before the
// next one starts: a healthy rollout passes both gates; a bad app2 fails
// the gate after batch 1, app1 is never drained, and the plan rolls back.
func TestRolloutGate(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)

	t.Run("healthy batches pass", func(t *testing.T) {
		topo := startSeed(t, cli, seedtopo.Options{})
		code, out := runPlan(t, "apply", "-auto-approve", writePlanIn(t, topo, "rollout-gate-pass", rolloutGatePlan(topo, "none")))
		t.Logf("exit %d:\n%s", code, out)
		if code != 0 {
			t.Fatalf("apply exit code %d, want 0", code)
		}
		if n := len(regexp.MustCompile(`rollout\.apps\.gate\[\d\]\s+\S*\s*passed: \d+ requests, 0 failed`).FindAllString(out, -1)); n != 2 {
			t.Errorf("%d gate verdicts in the output, want 2", n)
		}
		if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app2,v2"] == 0 || got["Hi there, I love ! app1,v2"] == 0 {
			t.Errorf("after apply, nginx answers %v; want app1,v2 and app2,v2", got)
		}
	})

	t.Run("bad batch fails its gate and rolls back", func(t *testing.T) {
		topo := startSeed(t, cli, seedtopo.Options{})
		before, _ := os.ReadFile(topo.ConfigPath)
		code, out := runPlan(t, "apply", "-auto-approve", writePlanIn(t, topo, "rollout-gate-fail", rolloutGatePlan(topo, "app2")))
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
	})
}
