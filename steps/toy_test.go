package steps_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/internal/runner"
	"github.com/nonstop-deploy/nonstop/steps"
)

// touch is a step type defined in this test file alone: it writes a file,
// and its undo removes it. It shows that a step type is one value
// registered into a registry, with nothing else to touch.
type touch struct{}

type touchSpec struct {
	Path    dsl.String
	Content dsl.String
	Fail    dsl.Bool
}

type touchRecord struct {
	Path string `json:"path"`
}

var touchSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "path", Required: true}, {Name: "content"}, {Name: "fail"}}}

func (touch) Name() string                       { return "touch" }
func (touch) Summary() string                    { return "write a file" }
func (touch) Schema() *hcl.BodySchema            { return touchSchema }
func (*touchSpec) DefaultTimeout() time.Duration { return time.Second }

func (touch) Decode(body hcl.Body, dc *dsl.DecodeContext) (steps.Spec, hcl.Diagnostics) {
	r := dc.Read(body, touchSchema)
	s := &touchSpec{Path: r.String("path"), Content: r.StringDefault("content", "touched"), Fail: r.Bool("fail", false)}
	if s.Path.Set && !filepath.IsAbs(s.Path.Value) {
		s.Path.Value = filepath.Join(dc.Dir, s.Path.Value)
	}
	return s, r.Diags()
}

func (s *touchSpec) Describe() []dsl.Attribute {
	return []dsl.Attribute{{Name: "path", Value: dsl.FormatValue(s.Path.Value)}}
}

func (s *touchSpec) Preflight(ctx context.Context, env *steps.Env) []error {
	if _, err := os.Stat(filepath.Dir(s.Path.Value)); err != nil {
		return []error{dsl.At(err, "Folder not found", s.Path.Range)}
	}
	return nil
}

func (s *touchSpec) Apply(ctx context.Context, env *steps.Env, note func(string)) (json.RawMessage, error) {
	if s.Fail.Value {
		return nil, dsl.At(errors.New("told to fail"), "Touch failed", s.Fail.Range)
	}
	if err := os.WriteFile(s.Path.Value, []byte(s.Content.Value), 0o644); err != nil {
		return nil, err
	}
	note("wrote " + s.Path.Value)
	return json.Marshal(touchRecord{Path: s.Path.Value})
}

func (touch) Undo(ctx context.Context, env *steps.Env, raw json.RawMessage, note func(string)) error {
	var rec touchRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return err
	}
	if err := os.Remove(rec.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	note("removed " + rec.Path)
	return nil
}

// A toy step type registered from this file runs through validate, show,
// apply and the rollback of a failed apply, with no Docker and no nginx.
func TestToyStepType(t *testing.T) {
	reg := steps.Builtin()
	if err := reg.Register(touch{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plan := func(fail bool) string {
		return fmt.Sprintf(`
step "touch" "a" {
  path = "a.txt"
}
step "touch" "b" {
  path       = "b.txt"
  fail       = %v
  depends_on = [step.touch.a]
}
`, fail)
	}
	load := func(src string) (*dsl.Plan, *executor.Graph) {
		t.Helper()
		f := filepath.Join(dir, "plan.hcl")
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		// validate: what `plan validate` runs.
		p, diags := dsl.Load(f, reg, dsl.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		g, gd := executor.Build(p)
		diags = append(gd, steps.Lint(p, g)...)
		if len(diags) > 0 {
			t.Fatal(diags)
		}
		return p, g
	}

	// show
	p, g := load(plan(false))
	var out bytes.Buffer
	if err := render.Show(&out, render.NewReview(p, g), "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"step.touch.a", "step.touch.b", filepath.Join(dir, "b.txt")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}

	// apply
	res, err := runner.Apply(context.Background(), p, g, runner.Options{Steps: reg, StateDir: filepath.Join(dir, "state1"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Code != executor.ExitApplied {
		t.Fatalf("apply: code %d, cause %v", res.Outcome.Code, res.Outcome.Cause)
	}
	for _, f := range []string{"a.txt", "b.txt"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != "touched" {
			t.Errorf("%s after apply: %q, %v", f, b, err)
		}
		_ = os.Remove(filepath.Join(dir, f))
	}

	// a failed apply rolls back through the type's Undo, and the failure
	// keeps the range of the attribute it is about.
	p, g = load(plan(true))
	res, err = runner.Apply(context.Background(), p, g, runner.Options{Steps: reg, StateDir: filepath.Join(dir, "state2"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Code != executor.ExitRolledBack {
		t.Fatalf("failed apply: code %d, cause %v", res.Outcome.Code, res.Outcome.Cause)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a.txt after the rollback: %v; want it removed by touch's Undo", err)
	}
	diags, ok := dsl.Diagnostics(res.Outcome.Cause)
	if !ok || diags[0].Subject.Start.Line != 7 {
		t.Errorf("the failure's diagnostics %v; want one at the fail attribute, line 7", diags)
	}

	// A registry without touch cannot load the plan: registration is per
	// registry, not process-wide.
	if _, diags := dsl.Load(filepath.Join(dir, "plan.hcl"), steps.Builtin(), dsl.Options{}); !diags.HasErrors() {
		t.Error("a fresh built-in registry knows the test's type")
	}
}
