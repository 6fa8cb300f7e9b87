package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// TestSwitchRefusesDynamicNginx: a switch (start-first deploys' detour)
// against an nginx with mode = "dynamic" is refused when the plan is
// loaded, pointing at its nginx attribute, instead of failing mid-apply.
func TestSwitchRefusesDynamicNginx(t *testing.T) {
	src := `
nginx "lb" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  mode      = "dynamic"
}
step "deploy" "a" {
  container = "a"
  image     = "img"
  strategy  = "start-first"
}
step "switch" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  container  = "a"
  depends_on = [step.deploy.a]
}
`
	f := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := dsl.Load(f, Builtin(), dsl.Options{})
	var found bool
	for _, d := range diags {
		if d.Summary == "Switch needs the reload backend" && d.Subject != nil && d.Subject.Start.Line == 14 && strings.Contains(d.Detail, `mode = "reload"`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("want the switch refused at its nginx attribute (line 14), got %v", diags)
	}
}
