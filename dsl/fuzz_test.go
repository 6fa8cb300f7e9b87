package dsl_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/steps"
)

// FuzzLoad feeds arbitrary files to the whole review pipeline: Load, the
// graph and its cycle check, and, for a valid plan, every show and graph
// format. Whatever the input, it must return diagnostics, never panic.
//
// The seed corpus is every plan of testdata/valid and testdata/invalid;
// inputs that once crashed live in testdata/fuzz/FuzzLoad.
//
//	go test -run=NONE -fuzz=FuzzLoad -fuzztime=4m ./dsl
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{
		"testdata/valid/*.hcl", "testdata/valid/*/*.hcl",
		"testdata/invalid/*.hcl", "testdata/invalid/*/*.hcl",
		"../plans/*.hcl",
	} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	reg := steps.Builtin()
	// One file, rewritten for every input: inputs run one at a time in
	// each fuzzing process, and a directory per input halves the speed.
	path := filepath.Join(f.TempDir(), "plan.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		p, diags := dsl.Load(path, reg, dsl.Options{Vars: []dsl.VarFlag{{Name: "version", Value: "v9"}}})
		if p == nil {
			t.Fatal("Load returned a nil plan")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Errorf("diagnostic without a summary: %#v", d)
			}
		}
		// The graph must cope with whatever Load returned, errors or not.
		g, gd := executor.Build(p)
		if diags.HasErrors() || gd.HasErrors() {
			return
		}
		if n := len(g.Order()); n != len(p.Steps) {
			t.Fatalf("graph orders %d of %d steps", n, len(p.Steps))
		}
		review := render.NewReview(p, g)
		for _, format := range render.ShowFormats {
			if err := render.Show(io.Discard, review, format); err != nil {
				t.Fatal(err)
			}
		}
		for _, format := range render.GraphFormats {
			if err := render.Graph(io.Discard, p.Name, g, format); err != nil {
				t.Fatal(err)
			}
		}
	})
}
