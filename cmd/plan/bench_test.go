package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

const benchNginx = `
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

// benchChain writes n steps by hand: per app a drain, deploy, health_check
// and restore, each after the one before, each app after the previous one.
func benchChain(n int) string {
	var b strings.Builder
	b.WriteString(benchNginx)
	for i := 0; i < n/4; i++ {
		prev := ""
		if i > 0 {
			prev = fmt.Sprintf("\n  depends_on = [step.restore.app%d]", i-1)
		}
		fmt.Fprintf(&b, `
step "drain" "app%[1]d" {
  nginx  = nginx.proxy
  server = "app%[1]d:3000"%[2]s
}

step "deploy" "app%[1]d" {
  container  = "app%[1]d"
  image      = "example/app:${var.version}"
  depends_on = [step.drain.app%[1]d]
}

step "health_check" "app%[1]d" {
  container  = "app%[1]d"
  http {
    port = 3000
  }
  depends_on = [step.deploy.app%[1]d]
}

step "restore" "app%[1]d" {
  nginx      = nginx.proxy
  server     = "app%[1]d:3000"
  depends_on = [step.health_check.app%[1]d]
}
`, i, prev)
	}
	return b.String()
}

// benchRollout writes one rollout of the given targets and batch size.
func benchRollout(targets, batch int) string {
	var b strings.Builder
	b.WriteString(benchNginx)
	b.WriteString("\nrollout \"apps\" {\n  nginx      = nginx.proxy\n  targets    = [")
	for i := 0; i < targets; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"app%d"`, i)
	}
	fmt.Fprintf(&b, `]
  batch_size = %d
  server     = "${target}:3000"
  deploy {
    image = "example/app:${var.version}"
  }
  health_check {
    http {
      port = 3000
    }
  }
}
`, batch)
	return b.String()
}

// BenchmarkValidate measures the whole of `plan validate`, as a user runs
// it: parse, decode, graph, lint and output ("full"), and without the lint
// ("no-lint", dsl.Load and executor.Build only), on a 10,000-step chain and
// on a rollout of 1,000 targets one at a time and 256 at a time.
//
//	go test -run=NONE -bench=Validate -benchtime=3x ./cmd/plan
func BenchmarkValidate(b *testing.B) {
	cases := []struct {
		name  string
		src   string
		steps int
	}{
		{"chain-10000", benchChain(10000), 10000},
		{"rollout-1000-batch-1", benchRollout(1000, 1), 4000},
		{"rollout-1000-batch-256", benchRollout(1000, 256), 4000},
	}
	for _, c := range cases {
		path := filepath.Join(b.TempDir(), "plan.hcl")
		if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := run([]string{"validate", path}, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
		b.Run(c.name+"/no-lint", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
				if diags.HasErrors() || len(p.Steps) != c.steps {
					b.Fatalf("%d steps, %v", len(p.Steps), diags)
				}
				if _, gd := executor.Build(p); gd.HasErrors() {
					b.Fatal(gd)
				}
			}
		})
	}
}
