package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bigplan"
	"github.com/nonstop-deploy/nonstop/steps"
)

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
		{"chain-10000", bigplan.Chain(10000), 10000},
		{"rollout-1000-batch-1", bigplan.Rollout(1000, 1), 4000},
		{"rollout-1000-batch-256", bigplan.Rollout(1000, 256), 4000},
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
