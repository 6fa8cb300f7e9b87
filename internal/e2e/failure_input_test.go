package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// refusedPlans runs the subtests of plans that must be refused before
// anything changes, on the seed topology (which they leave as it is).
func refusedPlans(t *testing.T, cli client.APIClient, topo *seedtopo.Topology) {
	header := fmt.Sprintf(`
docker "local" {
  compose_project = %q
}

nginx "proxy" {
  container = %q
  config    = %q
  upstream  = %%s
}
`, topo.Project, topo.NginxContainer, topo.ConfigPath)
	rollout := func(server, upstream string) string {
		return fmt.Sprintf(header, upstream) + fmt.Sprintf(`
variable "server" {
  default = %s
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["app1"]
  server  = var.server
  deploy {
    image = %q
    env   = { MESSAGE = "app1,v2" }
  }
  health_check {
    http {
      port = 3000
    }
  }
}
`, server, topo.Images.App)
	}
	refused := func(t *testing.T, name, src string, args []string, want ...string) {
		t.Helper()
		before := takeSnapshot(t, cli, topo)
		workers := nginxWorkers(t, cli, topo)
		plan := writePlanIn(t, topo, name, src)
		code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, args...), plan)...)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		if w := nginxWorkers(t, cli, topo); !slices.Equal(w, workers) {
			t.Errorf("nginx was reloaded")
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(plan), ".nonstop", "applies")); err == nil {
			t.Errorf("a journal was started for a refused plan")
		}
	}

	// Issue #5 item 11: draining the only server is an outage. (The
	// upstream "solo", with app1 alone, is added to nginx.conf for this.)
	t.Run("single-replica upstream", func(t *testing.T) {
		orig := takeSnapshot(t, cli, topo).Config
		i := strings.LastIndex(orig, "}")
		solo := orig[:i] + "    upstream solo {\n        server app1:3000;\n    }\n" + orig[i:]
		if err := os.WriteFile(topo.ConfigPath, []byte(solo), 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(topo.ConfigPath, []byte(orig), 0o644); err != nil {
				t.Error(err)
			}
		}()
		refused(t, "single", rollout(`"app1:3000"`, `"solo"`), nil,
			"preflight found", `draining "app1:3000" would leave upstream "solo"`, "only server", "second replica", "start-first")
	})

	// Issue #5 item 13: hostile values never reach nginx's config. Each
	// is refused, by validation of the plan or by the nginx package,
	// before anything is written.
	for _, tc := range []struct {
		name, server, upstream string
		vars                   []string
		want                   string
	}{
		{"server with a directive", `"app1:3000; include /etc/passwd"`, `"apps"`, nil, "Invalid server address"},
		{"server from -var with a newline and a brace", `"app1:3000"`, `"apps"`, []string{"-var", "server=app1:3000 down;\n}\nserver {"}, "Invalid server address"},
		{"server with quotes", `"app1:3000\" backup \""`, `"apps"`, nil, "Invalid server address"},
		{"upstream with a block", `"app1:3000"`, `"apps { server evil:1; }"`, nil, "invalid name"},
		{"upstream with a comment", `"app1:3000"`, `"apps#"`, nil, "invalid name"},
	} {
		t.Run("hostile "+tc.name, func(t *testing.T) {
			refused(t, "hostile", rollout(tc.server, tc.upstream), tc.vars, tc.want)
		})
	}

	// An exec probe is an argv list: a shell string is refused.
	t.Run("hostile exec probe as a shell string", func(t *testing.T) {
		src := fmt.Sprintf(header, `"apps"`) + `
step "health_check" "x" {
  container = "app1"
  exec {
    command = "true; rm -rf /"
  }
}
`
		refused(t, "hostile-exec", src, nil, "command")
	})
}
