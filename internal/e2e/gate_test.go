package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// gateCanary is a canary on the seed's topology: app2 on a new version,
// put back with an even share of the traffic, then judged by a gate
// through nginx. fail makes app2's new version answer 500 to everything
// (its tcp health check still passes: only the gate can tell).
func gateCanary(topo *seedtopo.Topology, fail bool) string {
	env := `{ MESSAGE = "app2,v2" }`
	if fail {
		env = `{ MESSAGE = "app2,v2", FAIL = "1" }`
	}
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

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:3000"
}

step "deploy" "app2" {
  container  = "app2"
  image      = %q
  env        = %s
  depends_on = [step.drain.app2]
}

step "health_check" "app2" {
  container = "app2"
  tcp {
    port = 3000
  }
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [step.deploy.app2]
}

step "weight" "app1_major" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 3
  depends_on = [step.health_check.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.weight.app1_major]
}

step "gate" "canary" {
  url        = %q
  duration   = "3s"
  rate       = 50
  depends_on = [step.restore.app2]
}

step "weight" "app1_even" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 1
  depends_on = [step.gate.canary]
}
`, topo.Project, topo.NginxContainer, topo.ConfigPath, topo.Images.App, env, topo.URL)
}

var gateFailed = regexp.MustCompile(`gate failed: (\d+) of (\d+) requests failed \(500×(\d+)\), budget 0`)

// A gate passes a healthy canary and fails a broken one, whose plan then
// rolls back to the original containers and nginx.conf.
func TestGate(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)

	t.Run("healthy canary passes", func(t *testing.T) {
		topo := startSeed(t, cli, seedtopo.Options{})
		plan := writePlanIn(t, topo, "gate-pass", gateCanary(topo, false))
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		t.Logf("exit %d:\n%s", code, out)
		if code != 0 {
			t.Fatalf("apply exit code %d, want 0", code)
		}
		if !regexp.MustCompile(`passed: \d+ requests, 0 failed`).MatchString(out) {
			t.Errorf("no gate verdict in the output")
		}
		if got := answers(t, topo, 8); got["Hi there, I love ! app2,v2"] == 0 || got["Hi there, I love ! app1,v1"] == 0 {
			t.Errorf("after apply, nginx answers %v; want app1,v1 and app2,v2", got)
		}
	})

	t.Run("broken canary fails the gate and rolls back", func(t *testing.T) {
		topo := startSeed(t, cli, seedtopo.Options{})
		before, _ := os.ReadFile(topo.ConfigPath)
		ids := map[string]string{}
		for _, a := range topo.Apps {
			ids[a.Container] = a.ID
		}
		plan := writePlanIn(t, topo, "gate-fail", gateCanary(topo, true))
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		t.Logf("exit %d:\n%s", code, out)
		if code != 2 {
			t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
		}
		m := gateFailed.FindStringSubmatch(out)
		if m == nil || m[1] == "0" || m[1] != m[3] || !strings.Contains(out, "step.gate.canary failed") {
			t.Errorf("the output does not name the gate and its numbers: %v", m)
		}
		if !regexp.MustCompile(`step\.weight\.app1_even\s+skipped`).MatchString(out) {
			t.Errorf("the step after the failed gate was not skipped")
		}
		got := answers(t, topo, 8)
		if len(got) != 2 || got["Hi there, I love ! app1,v1"] == 0 || got["Hi there, I love ! app2,v1"] == 0 {
			t.Errorf("after rollback, nginx answers %v; want app1,v1 and app2,v1", got)
		}
		after, _ := os.ReadFile(topo.ConfigPath)
		if !bytes.Equal(before, after) {
			t.Errorf("nginx.conf not byte-identical after rollback:\n%s", after)
		}
		for name, id := range ids {
			c, err := cli.ContainerInspect(context.Background(), name)
			if err != nil || c.ID != id || !c.State.Running {
				t.Errorf("%s: want the original container %s running again; got %v %v", name, id[:12], c.ID, err)
			}
		}
	})
}
