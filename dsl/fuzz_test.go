package dsl_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// FuzzStructured builds plans rather than bytes, so the fuzzer reaches what
// random bytes rarely do: nesting of every kind (parentheses, brackets,
// objects, calls, interpolations, blocks) to any depth, and references to
// another step written in every traversal form. Whatever it builds must
// give diagnostics, never a crash; nesting past dsl.MaxNesting must give
// "Nesting too deep"; and a valid plan's reference must be a dependency.
//
//	go test -run=NONE -fuzz=FuzzStructured -fuzztime=3m ./dsl
func FuzzStructured(f *testing.F) {
	f.Add(uint32(3), uint8(0), uint8(0), "image")
	f.Add(uint32(70000), uint8(0), uint8(1), "image")
	f.Add(uint32(150), uint8(4), uint8(2), "container")
	f.Add(uint32(250), uint8(5), uint8(3), "env")
	f.Add(uint32(20), uint8(3), uint8(4), "x")
	reg := steps.Builtin()
	path := filepath.Join(f.TempDir(), "plan.hcl")
	f.Fuzz(func(t *testing.T, depth uint32, kind, form uint8, attr string) {
		d := int(depth) % 100000
		if len(attr) > 64 {
			attr = attr[:64]
		}
		wraps := [][2]string{{"(", ")"}, {"[", "][0]"}, {"{a=", "}.a"}, {"abs(", ")"}, {`"${`, `}"`}, {"tostring(", ")"}}
		w := wraps[int(kind)%len(wraps)]
		refs := []string{
			`step.deploy.base.image`,
			`step.deploy.base["image"]`,
			`step.deploy["base"].image`,
			`step["deploy"]["base"]["image"]`,
			`step.deploy.base[%q]`,
			`[for k, v in step.deploy.base : v if k == %q][0]`,
			`step.deploy.base[lower(%q)]`,
		}
		ref := refs[int(form)%len(refs)]
		if strings.Contains(ref, "%q") {
			ref = fmt.Sprintf(ref, attr)
		}
		expr := strings.Repeat(w[0], d) + ref + strings.Repeat(w[1], d)
		src := `step "deploy" "base" {
  container = "base"
  image     = "example/base:v1"
}

step "deploy" "user" {
  container = "user"
  image     = ` + expr + `
}
`
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		p, diags := dsl.Load(path, reg, dsl.Options{})
		if p == nil {
			t.Fatal("Load returned a nil plan")
		}
		if d+1 > dsl.MaxNesting && (len(diags) != 1 || diags[0].Summary != "Nesting too deep") {
			t.Fatalf("depth %d: want one Nesting too deep, got %v", d, diags)
		}
		g, gd := executor.Build(p)
		if diags.HasErrors() || gd.HasErrors() {
			return
		}
		user := p.Step("step.deploy.user")
		if user == nil || len(user.DependsOn) != 1 || user.DependsOn[0].Addr != "step.deploy.base" {
			t.Fatalf("%s: the reference is not a dependency: %+v", ref, user)
		}
		if len(g.Waves()) != 2 {
			t.Fatalf("%s: %d waves, want 2", ref, len(g.Waves()))
		}
	})
}
