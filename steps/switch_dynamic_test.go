package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// TestSwitchAcceptsDynamicNginx: a switch (start-first deploys' detour)
// against an nginx with mode = "dynamic" loads: the reload-free backend
// detours too (nginx.Dynamic is a Detourer), so nothing refuses it.
func TestSwitchAcceptsDynamicNginx(t *testing.T) {
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
	if diags.HasErrors() {
		t.Fatalf("a switch against a dynamic nginx: want it loaded, got %v", diags)
	}
	for _, d := range diags {
		if strings.Contains(d.Summary, "reload backend") {
			t.Fatalf("a switch against a dynamic nginx: want no diagnostic about the reload backend, got %v", d)
		}
	}
}
