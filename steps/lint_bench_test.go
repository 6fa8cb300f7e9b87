package steps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// chain writes n steps as plans/rolling-update.hcl does, by hand: per app
// a drain, deploy, health_check and restore, each depending on the one
// before, each app's drain on the previous app's restore. With startFirst,
// every other app is deployed start-first and switched instead.
func chain(n int, startFirst bool) string {
	var b strings.Builder
	b.WriteString(header)
	prev := ""
	for i := 0; i < n/4; i++ {
		app := fmt.Sprintf("app%d", i)
		dep := ""
		if prev != "" {
			dep = "\n  depends_on = [" + prev + "]"
		}
		if startFirst && i%2 == 1 {
			fmt.Fprintf(&b, `
step "deploy" %[1]q {
  container = %[1]q
  image     = "img"
  strategy  = "start-first"%[2]s
}
step "health_check" %[1]q {
  container  = %[1]q
  tcp { port = 3000 }
  depends_on = [step.deploy.%[1]s]
}
step "switch" %[1]q {
  nginx      = nginx.lb
  server     = "%[1]s:3000"
  container  = %[1]q
  depends_on = [step.health_check.%[1]s]
}
step "health_check" "%[1]s_after" {
  container  = %[1]q
  tcp { port = 3000 }
  depends_on = [step.switch.%[1]s]
}
`, app, dep)
			prev = fmt.Sprintf("step.health_check.%s_after", app)
			continue
		}
		fmt.Fprintf(&b, `
step "drain" %[1]q {
  nginx  = nginx.lb
  server = "%[1]s:3000"%[2]s
}
step "deploy" %[1]q {
  container  = %[1]q
  image      = "img"
  depends_on = [step.drain.%[1]s]
}
step "health_check" %[1]q {
  container  = %[1]q
  tcp { port = 3000 }
  depends_on = [step.deploy.%[1]s]
}
step "restore" %[1]q {
  nginx      = nginx.lb
  server     = "%[1]s:3000"
  depends_on = [step.health_check.%[1]s]
}
`, app, dep)
		prev = "step.restore." + app
	}
	return b.String()
}

func loadChain(tb testing.TB, n int, startFirst bool) (*dsl.Plan, *executor.Graph) {
	tb.Helper()
	f := filepath.Join(tb.TempDir(), "p.hcl")
	if err := os.WriteFile(f, []byte(chain(n, startFirst)), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, diags := dsl.Load(f, Builtin(), dsl.Options{})
	if diags.HasErrors() {
		tb.Fatal(diags)
	}
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		tb.Fatal(gd)
	}
	return p, g
}

// BenchmarkLint measures the plan checks `plan validate` runs after the
// graph is built, on chains of 1,000 and 10,000 steps.
func BenchmarkLint(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, sf := range []bool{false, true} {
			b.Run(fmt.Sprintf("steps=%d/start-first=%v", n, sf), func(b *testing.B) {
				p, g := loadChain(b, n, sf)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if d := Lint(p, g); len(d) != 0 {
						b.Fatal(d)
					}
				}
			})
		}
	}
}

// A rollout's phase is one block for all its targets: a problem in it is
// one diagnostic, not one per target.
func TestLintReportsAPhaseOnce(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.hcl")
	src := header + `
rollout "apps" {
  nginx   = nginx.lb
  targets = ["a", "b", "c"]
  server  = "${target}:3000"
  deploy {
    image = "img"
  }
  health_check {
    tcp {
      port = 3000
    }
    interval          = "10s"
    healthy_threshold = 3
    timeout           = "5s"
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
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		t.Fatal(gd)
	}
	if got := Lint(p, g); len(got) != 1 || got[0].Severity != hcl.DiagError {
		t.Fatalf("want one error for the phase, got %d: %v", len(got), got)
	}
}
