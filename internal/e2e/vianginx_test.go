package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// A health check through nginx, against the real topology: one that nginx
// answers passes (exit 0); one it never answers fails the only step, so
// nothing changed (exit 1).
func TestHealthCheckViaNginx(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	for _, tc := range []struct {
		body string
		code int
	}{{"I love", 0}, {"never in any answer", 1}} {
		src := fmt.Sprintf(`
nginx "proxy" {
  container = %q
  config    = %q
  upstream  = "apps"
}

step "health_check" "through_nginx" {
  container = %q
  nginx     = nginx.proxy
  http {
    port        = 80
    via_nginx   = true
    expect_body = %q
  }
  interval = "100ms"
  timeout  = "2s"
}
`, topo.NginxContainer, topo.ConfigPath, topo.Apps[0].Container, tc.body)
		plan := filepath.Join(topo.Dir, "via.hcl")
		if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		if code != tc.code {
			t.Errorf("expect_body %q: exit %d, want %d\n%s", tc.body, code, tc.code, out)
		}
		if tc.code == 1 && !strings.Contains(out, "Nothing was changed") {
			t.Errorf("a failed first step should say nothing changed:\n%s", out)
		}
	}
}
