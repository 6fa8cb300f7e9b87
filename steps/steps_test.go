package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// Every example plan users copy must load and graph clean.
func TestExamplePlansAreValid(t *testing.T) {
	files, _ := filepath.Glob("../plans/*.hcl")
	if len(files) < 3 {
		t.Fatalf("found %d plans in plans/", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, diags := dsl.Load(f, Builtin(), dsl.Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if _, gd := executor.Build(p); gd.HasErrors() {
				t.Fatal(gd)
			}
			for _, s := range p.Steps {
				if _, ok := s.Spec.(Spec); !ok {
					t.Errorf("%s: %T cannot run", s.Addr, s.Spec)
				}
			}
		})
	}
}

const header = `
nginx "lb" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}
`

func load(t *testing.T, body string) (*dsl.Plan, hcl.Diagnostics) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(f, []byte(header+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dsl.Load(f, Builtin(), dsl.Options{})
}

// Each step type decodes its attributes with their defaults, and rejects
// what it cannot run, with a diagnostic naming the problem.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      func(t *testing.T, s dsl.Spec)
		wantErr    string
	}{
		{name: "drain defaults to the nginx drain_timeout", body: `step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}`, check: func(t *testing.T, s dsl.Spec) {
			d := s.(*DrainSpec)
			if d.DrainTimeout.Value != dsl.DefaultDrainTimeout || d.Server.Value != "a:3000" || d.Nginx.Upstream.Value != "apps" {
				t.Errorf("%+v", d)
			}
		}},
		{name: "server with a semicolon", body: `step "restore" "a" {
  nginx  = nginx.lb
  server = "a:3000; include /etc/passwd"
}`, wantErr: "Invalid server address"},
		{name: "server with a newline", body: `step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000\n}"
}`, wantErr: "Invalid server address"},
		{name: "deploy defaults", body: `step "deploy" "a" {
  container = "a"
  image     = "img:v2"
}`, check: func(t *testing.T, s dsl.Spec) {
			d := s.(*DeploySpec)
			if d.Pull.Value != "missing" || d.Image.Value != "img:v2" || d.Env.Set {
				t.Errorf("%+v", d)
			}
		}},
		{name: "deploy pull policy", body: `step "deploy" "a" {
  container = "a"
  image     = "img"
  pull      = "sometimes"
}`, wantErr: `Invalid value for "pull"`},
		{name: "env name with =", body: `step "deploy" "a" {
  container = "a"
  image     = "img"
  env       = { "A=B" = "x" }
}`, wantErr: "Invalid environment variable name"},
		{name: "http probe defaults", body: `step "health_check" "a" {
  container = "a"
  http {
    port = 3000
  }
}`, check: func(t *testing.T, s dsl.Spec) {
			h := s.(*HealthCheckSpec)
			if h.HTTP.Path.Value != "/" || h.HTTP.ExpectStatus.Value != 200 || h.HTTP.Method.Value != "GET" || h.HealthyThreshold.Value != 1 || h.DefaultTimeout() != DefaultHealthTimeout {
				t.Errorf("%+v %+v", h, h.HTTP)
			}
		}},
		{name: "exec takes argv", body: `step "health_check" "a" {
  container = "a"
  exec {
    command = ["/app", "-check"]
  }
}`, check: func(t *testing.T, s dsl.Spec) {
			if got := s.(*HealthCheckSpec).Exec.Command.Value; strings.Join(got, "|") != "/app|-check" {
				t.Errorf("argv %q", got)
			}
		}},
		{name: "exec refuses a shell string", body: `step "health_check" "a" {
  container = "a"
  exec {
    command = "curl localhost"
  }
}`, wantErr: "Incorrect attribute value type"},
		{name: "via_nginx needs an nginx", body: `step "health_check" "a" {
  container = "a"
  http {
    port      = 80
    via_nginx = true
  }
}`, wantErr: "via_nginx needs an nginx"},
		{name: "weight 1 is nginx's default", body: `step "weight" "a" {
  nginx  = nginx.lb
  server = "a:3000"
  weight = 1
}`, check: func(t *testing.T, s dsl.Spec) {
			if w := s.(*WeightSpec).nginxWeight(); w != 0 {
				t.Errorf("weight 1 written as %d, want no parameter", w)
			}
		}},
		{name: "weight bounds", body: `step "weight" "a" {
  nginx  = nginx.lb
  server = "a:3000"
  weight = 0
}`, wantErr: `Invalid value for "weight"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := load(t, tc.body)
			if tc.wantErr != "" {
				if !strings.Contains(diags.Error(), tc.wantErr) {
					t.Fatalf("diagnostics %v; want %q", diags, tc.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tc.check(t, p.Steps[0].Spec)
		})
	}
}

// Sensitive values never reach review output.
func TestDescribeHidesSensitiveValues(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.hcl")
	src := `
variable "token" {
  default   = "s3cr3t-value"
  sensitive = true
}
step "deploy" "a" {
  container = "a"
  image     = "img"
  env       = { TOKEN = var.token }
}
step "health_check" "a" {
  container = "a"
  http {
    port        = 3000
    expect_body = var.token
  }
}
`
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load(f, Builtin(), dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, s := range p.Steps {
		for _, a := range s.Spec.Describe() {
			if strings.Contains(a.Value, "s3cr3t") {
				t.Errorf("%s.%s shows the secret: %s", s.Addr, a.Name, a.Value)
			}
		}
	}
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"drained and restored", `
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "deploy" "a" {
  container  = "a"
  image      = "img"
  depends_on = [step.drain.a]
}
step "restore" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  depends_on = [step.deploy.a]
}`, nil},
		{"deploy without drain", `
step "deploy" "a" {
  container = "a"
  image     = "img"
}`, []string{"Deploy without a drain before it"}},
		{"drain without restore", `
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "deploy" "a" {
  container  = "a"
  image      = "img"
  depends_on = [step.drain.a]
}`, []string{"Drain without a restore after it"}},
		{"start-first with its switch", `
step "deploy" "a" {
  container = "a"
  image     = "img"
  strategy  = "start-first"
}
step "health_check" "a" {
  container  = "a"
  tcp { port = 3000 }
  depends_on = [step.deploy.a]
}
step "switch" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  container  = "a"
  depends_on = [step.health_check.a]
}`, nil},
		{"start-first without a switch", `
step "deploy" "a" {
  container = "a"
  image     = "img"
  strategy  = "start-first"
}`, []string{"error: Start-first deploy without a switch"}},
		{"switch of another container", `
step "deploy" "a" {
  container = "a"
  image     = "img"
  strategy  = "start-first"
}
step "switch" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  container  = "b"
  depends_on = [step.deploy.a]
}`, []string{"error: Switch and start-first deploy name different containers"}},
		{"switch before its deploy", `
step "switch" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  container  = "a"
}
step "deploy" "a" {
  container  = "a"
  image      = "img"
  strategy   = "start-first"
  depends_on = [step.switch.a]
}`, []string{"error: Switch without a start-first deploy before it", "error: Start-first deploy without a switch"}},
		{"a second drain of the server after its restore", `
step "drain" "again" {
  nginx      = nginx.lb
  server     = "a:3000"
  depends_on = [step.restore.a]
}
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "health_check" "a" {
  container  = "a"
  tcp { port = 3000 }
  depends_on = [step.drain.a, step.drain.again]
}
step "restore" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  depends_on = [step.drain.a]
}`, []string{"Drain without a restore after it"}},
		{"health check that fits its timeout", `
step "health_check" "a" {
  container         = "a"
  tcp { port = 3000 }
  interval          = "30s"
  healthy_threshold = 3
  timeout           = "61s"
}`, nil},
		{"health check longer than its timeout", `
step "health_check" "a" {
  container         = "a"
  tcp { port = 3000 }
  interval          = "30s"
  healthy_threshold = 3
  timeout           = "60s"
}`, []string{"error: Health check cannot pass within its timeout"}},
		{"health check longer than the default timeout", `
step "health_check" "a" {
  container         = "a"
  tcp { port = 3000 }
  healthy_threshold = 61
}`, []string{"error: Health check cannot pass within its timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := load(t, tc.body)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			g, gd := executor.Build(p)
			if gd.HasErrors() {
				t.Fatal(gd)
			}
			var got []string
			for _, d := range Lint(p, g) {
				if d.Subject == nil {
					t.Errorf("%s: want a located diagnostic", d.Summary)
				}
				if d.Severity == hcl.DiagError {
					got = append(got, "error: "+d.Summary)
				} else {
					got = append(got, d.Summary)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("lint %q, want %q", got, tc.want)
			}
		})
	}
	// The example plans are clean.
	files, _ := filepath.Glob("../plans/*.hcl")
	for _, f := range files {
		p, _ := dsl.Load(f, Builtin(), dsl.Options{})
		g, _ := executor.Build(p)
		if d := Lint(p, g); len(d) > 0 {
			t.Errorf("%s: %v", f, d)
		}
	}
}

// A restore fuses with a drain of another server of the same upstream, and
// with nothing else.
func TestFuseConditions(t *testing.T) {
	p, diags := load(t, `
nginx "other" {
  container = "nginx"
  config    = "other.conf"
  upstream  = "apps"
}
step "restore" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "drain" "b" {
  nginx  = nginx.lb
  server = "b:3000"
}
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "drain" "other" {
  nginx  = nginx.other
  server = "b:3000"
}
step "deploy" "b" {
  container = "b"
  image     = "img"
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	task := map[string]*Task{}
	for _, s := range p.Steps {
		task[s.Addr] = &Task{Type: s.Type, Spec: s.Spec.(Spec)}
	}
	restore := task["step.restore.a"]
	for _, tc := range []struct {
		next string
		skip bool
		want bool
	}{
		{"step.drain.b", false, true},
		{"step.drain.b", true, false},      // skipped: nothing to do
		{"step.drain.a", false, false},     // the same server
		{"step.drain.other", false, false}, // another nginx config
		{"step.deploy.b", false, false},    // not a drain
	} {
		next := *task[tc.next]
		if tc.skip {
			next.Skip = "up to date"
		}
		if got := restore.Fuse(&next) != nil; got != tc.want {
			t.Errorf("restore.a fuses with %s (skip %v): %v, want %v", tc.next, tc.skip, got, tc.want)
		}
	}
	if task["step.drain.b"].Fuse(restore) != nil {
		t.Error("a drain fused with a restore after it")
	}
}
