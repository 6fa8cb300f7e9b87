package dsl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bigplan"
	"github.com/nonstop-deploy/nonstop/steps"
)

const benchHeader = `
variable "version" {
  type    = string
  default = "v2"
}

nginx "proxy" {
  container     = "nginx"
  config        = "nginx.conf"
  upstream      = "apps"
  drain_timeout = "30s"
}
`

// rolloutPlan writes one rollout of n/4 targets, two at a time (n steps),
// and one more step that waits for all of them.
func rolloutPlan(n int) string {
	var b strings.Builder
	b.WriteString(benchHeader)
	b.WriteString("\nlocals {\n  apps = [")
	for i := 0; i < n/4; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"app%d"`, i)
	}
	b.WriteString(`]
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = local.apps
  batch_size = 2
  server     = "${target}:3000"
  deploy {
    image = "example/app:${var.version}"
    env   = { MESSAGE = "${target},${var.version}" }
  }
  health_check {
    http {
      port        = 3000
      expect_body = "${target},${var.version}"
    }
    interval = "200ms"
  }
}

# Waits for every step of the rollout: one step with n dependencies.
step "health_check" "smoke" {
  container = "smoke"
  nginx     = nginx.proxy
  http {
    port      = 80
    via_nginx = true
  }
  depends_on = [rollout.apps]
}
`)
	return b.String()
}

// BenchmarkLoadAndGraph measures what `plan validate` and `plan graph` do
// on generated plans of 100, 1,000 and 10,000 steps: parse and decode
// (dsl.Load), build and check the graph (executor.Build), and layer it into
// waves. Results and the command to reproduce them: docs/benchmarks.md.
func BenchmarkLoadAndGraph(b *testing.B) {
	reg := steps.Builtin()
	for _, n := range []int{100, 1000, 10000} {
		for _, shape := range []struct {
			name  string
			gen   func(int) string
			extra int
		}{{"chain", bigplan.Chain, 0}, {"rollout", rolloutPlan, 1}} {
			b.Run(fmt.Sprintf("steps=%d/%s", n, shape.name), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "plan.hcl")
				if err := os.WriteFile(path, []byte(shape.gen(n)), 0o644); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					p, diags := dsl.Load(path, reg, dsl.Options{})
					if diags.HasErrors() {
						b.Fatal(diags)
					}
					if len(p.Steps) != n+shape.extra {
						b.Fatalf("%d steps, want %d", len(p.Steps), n+shape.extra)
					}
					g, gd := executor.Build(p)
					if gd.HasErrors() {
						b.Fatal(gd)
					}
					if w := g.Waves(); len(w) == 0 {
						b.Fatal("no waves")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/step")
			})
		}
	}
}

// BenchmarkRolloutGate measures what a gate phase adds to validating a
// rollout of 1,000 targets 256 at a time (the shape of cmd/plan's
// BenchmarkValidate/rollout-1000-batch-256): one gate step per batch, so
// the cost should stay that of the rollout without it.
func BenchmarkRolloutGate(b *testing.B) {
	reg := steps.Builtin()
	plain := bigplan.Rollout(1000, 256)
	gated := strings.TrimSuffix(plain, "}\n") + gatePhase + "}\n"
	for _, c := range []struct {
		name  string
		src   string
		steps int
	}{{"gate=false", plain, 4000}, {"gate=true", gated, 4000 + 4}} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "plan.hcl")
			if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p, diags := dsl.Load(path, reg, dsl.Options{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if len(p.Steps) != c.steps {
					b.Fatalf("%d steps, want %d", len(p.Steps), c.steps)
				}
				g, gd := executor.Build(p)
				if gd.HasErrors() {
					b.Fatal(gd)
				}
				if d := steps.Lint(p, g); d.HasErrors() {
					b.Fatal(d)
				}
			}
		})
	}
}
