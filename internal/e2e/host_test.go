package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// hostPlan is the rolling update for nginx on the host: nginx is found by
// its pid file, and the upstream's servers are the apps' published ports.
func hostPlan(topo *seedtopo.Topology, healthEnv string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `variable "version" {
  default = "v2"
}

nginx "host" {
  pid_file    = %q
  main_config = %q
  config      = %q
  upstream    = "apps"
}

docker "local" {
  compose_project = %q
}
`, topo.NginxPIDFile, topo.ConfigPath, topo.ConfigPath, topo.Project)
	for _, a := range topo.Apps {
		fmt.Fprintf(&b, `
rollout %q {
  nginx   = nginx.host
  targets = [%q]
  server  = %q
  deploy {
    image = %q
    env   = { MESSAGE = "${target},${var.version}"%s }
  }
  health_check {
    http {
      port        = 3000
      expect_body = "${target},${var.version}"
    }
    interval = "200ms"
    timeout  = "4s"
  }
}
`, a.Service, a.Service, a.Server, topo.Images.App, healthEnv)
	}
	// app2 first, then app1, as the seed does.
	fmt.Fprintf(&b, "\n# order\n")
	return b.String()
}

func TestRollingUpdateHostNginx(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	for _, tc := range []struct {
		name      string
		healthEnv string
		wantCode  int
		wantVer   string
	}{
		{"healthy", "", 0, "v2"},
		{"never-healthy", `, FAIL = "1"`, 2, "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := startSeed(t, cli, seedtopo.Options{HostNginx: true})
			src := hostPlan(topo, tc.healthEnv)
			// Chain the two rollouts: app1 after app2.
			src = strings.Replace(src, "rollout \"app1\" {\n", "rollout \"app1\" {\n  depends_on = [rollout.app2]\n", 1)
			plan := filepath.Join(topo.Dir, "host.hcl")
			if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(topo.ConfigPath)
			l := startLoad(topo.URL, 4)
			code, out := runPlan(t, "apply", "-auto-approve", plan)
			l.Stop()
			t.Logf("plan apply (exit %d):\n%s", code, out)
			t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d", code, tc.wantCode)
			}
			if n := l.non2xx.Load(); n != 0 {
				t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
			}
			got := answers(t, topo, 8)
			for _, a := range topo.Apps {
				if got["Hi there, I love ! "+a.Service+","+tc.wantVer] == 0 {
					t.Errorf("after apply, nginx answers %v; want %s,%s among them", got, a.Service, tc.wantVer)
				}
			}
			after, _ := os.ReadFile(topo.ConfigPath)
			if !bytes.Equal(before, after) {
				t.Errorf("nginx.conf not byte-identical:\n%s", after)
			}
			if names := projectContainers(t, cli, topo.Project); len(names) != 2 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
				t.Errorf("containers after apply: %v; want the two apps, no leftovers", names)
			}
		})
	}
}
