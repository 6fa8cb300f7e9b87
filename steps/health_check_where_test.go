// This file tests the preflight of where probes go and of host nginx on
// another machine: which plans are refused, with the probe's range and
// the alternatives.
package steps

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// loadRaw loads body as a whole plan (no shared header).
func loadRaw(t *testing.T, body string) *dsl.Plan {
	t.Helper()
	f := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load(f, Builtin(), dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

// An http or tcp probe of a container on another machine's engine is
// refused at its port, naming the engine and the probes that work; the
// same probe on this machine's engine, and docker/exec probes anywhere,
// pass. No engine is dialled: the place comes from the address.
func TestProbeReachability(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	plan := func(host, probe string) string {
		return `
docker "d" {
  host = "` + host + `"
}
nginx "lb" {
  container = "nginx"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}
step "health_check" "app" {
  container = "app"
  nginx     = nginx.lb
  ` + probe + `
}
`
	}
	for _, tc := range []struct {
		name, host, probe string
		refused           bool
	}{
		{"http on ssh elsewhere", "ssh://deploy@web1.example.com", "http {\n    port = 3000\n  }", true},
		{"tcp on tcp elsewhere", "tcp://10.0.0.6:2376", "tcp {\n    port = 3000\n  }", true},
		{"via_nginx in a container elsewhere", "ssh://deploy@web1.example.com", "http {\n    port = 80\n    via_nginx = true\n  }", true},
		{"docker probe elsewhere", "ssh://deploy@web1.example.com", "docker {}", false},
		{"exec probe elsewhere", "ssh://deploy@web1.example.com", "exec {\n    command = [\"/app\", \"-check\"]\n  }", false},
		{"http on the local socket", "unix:///var/run/docker.sock", "http {\n    port = 3000\n  }", false},
		{"http on loopback ssh", "ssh://root@127.0.0.1:2222", "http {\n    port = 3000\n  }", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadRaw(t, plan(tc.host, tc.probe))
			errs := SpecOf(p.Steps[0]).Preflight(t.Context(), nil)
			if !tc.refused {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("errors %v; want one refusal", errs)
			}
			msg := errs[0].Error()
			for _, want := range []string{tc.host, "runs on another machine", "docker {}", "exec {", "via_nginx"} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not say %q", msg, want)
				}
			}
			var re *dsl.RangeError
			if !errors.As(errs[0], &re) || re.Subject.Start.Line == 0 || !strings.HasSuffix(re.Subject.Filename, "p.hcl") {
				t.Errorf("refusal carries no range in the plan: %#v", re)
			}
		})
	}
}

// Host-form nginx whose engine is on another machine is refused; on this
// machine's engine it is not.
func TestHostNginxElsewhere(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	plan := func(host, engine string) *dsl.Nginx {
		return loadRaw(t, `
docker "web" {
  host = "`+host+`"
}
nginx "lb" {
  pid_file = "/run/nginx.pid"
  config   = "/etc/nginx/nginx.conf"
  upstream = "apps"
  `+engine+`
}
`).Nginx[0]
	}
	// The lone docker block is nginx's engine by default: that claims
	// nothing about where nginx runs.
	if err := hostNginxElsewhere(plan("ssh://deploy@web1.example.com", "")); err != nil {
		t.Errorf("host nginx in front of a remote engine's apps refused: %v", err)
	}
	err := hostNginxElsewhere(plan("ssh://deploy@web1.example.com", "engine = docker.web"))
	if err == nil || !strings.Contains(err.Error(), "runs on another machine") || !strings.Contains(err.Error(), "Fix:") {
		t.Fatalf("host nginx with an engine elsewhere: %v; want the refusal with a fix", err)
	}
	var re *dsl.RangeError
	if !errors.As(err, &re) || re.Subject.Start.Line == 0 {
		t.Errorf("refusal carries no range: %#v", re)
	}
	if err := hostNginxElsewhere(plan("unix:///var/run/docker.sock", "engine = docker.web")); err != nil {
		t.Errorf("host nginx with the local engine refused: %v", err)
	}
}
