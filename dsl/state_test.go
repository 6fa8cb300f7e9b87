package dsl_test

// This file tests where a plan's state lives: the plan block's state and
// state_path reach the model (errors are in testdata/invalid/state*.hcl).

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

func TestState(t *testing.T) {
	const rest = `
nginx "lb" {
  container = "lb"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}
step "drain" "app" {
  nginx  = nginx.lb
  server = "app:3000"
}
`
	for _, tc := range []struct {
		name, plan, file string
		want             string // "" for local state
	}{
		{"default", ``, "web.hcl", ""},
		{"local", `plan { state = "local" }`, "web.hcl", ""},
		{"nginx, path from the file name", `plan { state = nginx.lb }`, "web.hcl", "/var/lib/nonstop/web"},
		{"nginx, path from the plan name", `plan {
  name  = "shop"
  state = nginx.lb
}`, "web.hcl", "/var/lib/nonstop/shop"},
		{"nginx, state_path", `plan {
  state      = nginx.lb
  state_path = "/srv/state/web"
}`, "web.hcl", "/srv/state/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.plan+"\n"+rest), 0o600); err != nil {
				t.Fatal(err)
			}
			p, _, diags := load(t, path, dsl.Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			switch {
			case tc.want == "" && p.State != nil:
				t.Errorf("state %+v, want local", p.State)
			case tc.want != "" && p.State == nil:
				t.Errorf("local state, want %s", tc.want)
			case tc.want != "" && (p.State.Path.Value != tc.want || p.State.Nginx != p.NginxByName("lb")):
				t.Errorf("state in %s of %+v, want %s of nginx.lb", p.State.Path.Value, p.State.Nginx, tc.want)
			}
		})
	}
	// A plan name that is no folder name, with no state_path.
	path := filepath.Join(t.TempDir(), "my web.hcl")
	if err := os.WriteFile(path, []byte("plan { state = nginx.lb }\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, diags := load(t, path, dsl.Options{}); !diags.HasErrors() || diags[0].Summary != "The plan's name cannot name its state folder" {
		t.Errorf("diagnostics %v, want the plan's name refused", diags)
	}
}
