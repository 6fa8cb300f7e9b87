package render_test

import (
	"os"

	goldenfile "github.com/nonstop-deploy/nonstop/internal/testkit/golden"

	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bigplan"
	"github.com/nonstop-deploy/nonstop/steps"
)

// golden compares got with testdata/NAME (-update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Assert(t, filepath.Join("testdata", name), got)
}

// goldenPlans are the plans whose review output is pinned: the example
// plans users copy, and testdata plans with for_each, batches, every step
// type and a sensitive variable.
var goldenPlans = map[string]string{
	"rolling-update":         "../../plans/rolling-update.hcl",
	"rolling-update-rollout": "../../plans/rolling-update-rollout.hcl",
	"rollout-batch":          "../../dsl/testdata/valid/rollout-batch.hcl",
	"for-each-map":           "../../dsl/testdata/valid/for-each-map.hcl",
	"step-types":             "../../dsl/testdata/valid/step-types.hcl",
	"variables":              "../../dsl/testdata/valid/variables.hcl",
}

func loadPlan(t *testing.T, path string) (*dsl.Plan, *executor.Graph) {
	t.Helper()
	p, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
	if diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		t.Fatalf("%s: %v", path, gd)
	}
	return p, g
}

func TestShowGolden(t *testing.T) {
	for name, path := range goldenPlans {
		p, g := loadPlan(t, path)
		for _, format := range render.ShowFormats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := render.Show(&b, render.NewReview(p, g), format); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"text": "txt", "markdown": "md", "json": "json"}[format]
				golden(t, name+".show."+ext+".golden", b.Bytes())
			})
		}
	}
}

func TestGraphGolden(t *testing.T) {
	for name, path := range goldenPlans {
		p, g := loadPlan(t, path)
		for _, format := range render.GraphFormats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := render.Graph(&b, p.Name, g, format); err != nil {
					t.Fatal(err)
				}
				golden(t, name+".graph."+format+".golden", b.Bytes())
			})
		}
	}
}

// TestOutputIsStable renders every format twice from two loads: output
// must not depend on map order or anything else that varies between runs.
func TestOutputIsStable(t *testing.T) {
	for name, path := range goldenPlans {
		render1 := func() string {
			p, g := loadPlan(t, path)
			var b bytes.Buffer
			for _, f := range render.ShowFormats {
				_ = render.Show(&b, render.NewReview(p, g), f)
			}
			for _, f := range render.GraphFormats {
				_ = render.Graph(&b, p.Name, g, f)
			}
			return b.String()
		}
		first := render1()
		for i := 0; i < 5; i++ {
			if render1() != first {
				t.Fatalf("%s: output differs between runs", name)
			}
		}
	}
}

func TestUnknownFormats(t *testing.T) {
	p, g := loadPlan(t, goldenPlans["rolling-update"])
	if err := render.Show(&bytes.Buffer{}, render.NewReview(p, g), "yaml"); err == nil {
		t.Error("show -format yaml: no error")
	}
	if err := render.Graph(&bytes.Buffer{}, p.Name, g, "svg"); err == nil {
		t.Error("graph -format svg: no error")
	}
}

// TestSensitive checks that a sensitive variable's value appears in no
// output format, while the places it is used say (sensitive).
func TestSensitive(t *testing.T) {
	p, g := loadPlan(t, goldenPlans["variables"])
	const secret = "s3cr3t-token"
	for _, format := range render.ShowFormats {
		var b bytes.Buffer
		if err := render.Show(&b, render.NewReview(p, g), format); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, secret) {
			t.Errorf("show -format %s prints the sensitive value:\n%s", format, out)
		}
		// Once for the variable, once for the env that uses it.
		if n := strings.Count(out, "(sensitive)"); n < 2 {
			t.Errorf("show -format %s: (sensitive) appears %d times, want at least 2:\n%s", format, n, out)
		}
	}
	for _, format := range render.GraphFormats {
		var b bytes.Buffer
		_ = render.Graph(&b, p.Name, g, format)
		if strings.Contains(b.String(), secret) {
			t.Errorf("graph -format %s prints the sensitive value", format)
		}
	}
}

func TestShowJSONShape(t *testing.T) {
	p, g := loadPlan(t, goldenPlans["rolling-update"])
	var b bytes.Buffer
	if err := render.Show(&b, render.NewReview(p, g), "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		OnFailure   string `json:"on_failure"`
		StepCount   int    `json:"step_count"`
		Variables   []struct {
			Name      string `json:"name"`
			Value     string `json:"value"`
			Source    string `json:"source"`
			Sensitive bool   `json:"sensitive"`
		} `json:"variables"`
		Waves [][]struct {
			Address    string   `json:"address"`
			Type       string   `json:"type"`
			After      []string `json:"after"`
			Source     string   `json:"source"`
			Timeout    string   `json:"timeout"`
			Attributes []struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				Sensitive bool   `json:"sensitive"`
			} `json:"attributes"`
		} `json:"waves"`
	}
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "rolling-update" || doc.OnFailure != "rollback" || doc.StepCount != 8 || len(doc.Waves) != 8 {
		t.Errorf("unexpected document: %+v", doc)
	}
	first := doc.Waves[0][0]
	if first.Address != "step.drain.app2" || first.Type != "drain" || first.Source != "rolling-update.hcl:51" {
		t.Errorf("first step: %+v", first)
	}
	if len(first.Attributes) == 0 || first.Attributes[0].Name != "nginx" || first.Attributes[0].Value != "nginx.proxy" {
		t.Errorf("first step attributes: %+v", first.Attributes)
	}
}

func TestDiagnosticsGolden(t *testing.T) {
	path := "../../dsl/testdata/invalid/undeclared-refs.hcl"
	p, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
	if !diags.HasErrors() {
		t.Fatal("no errors")
	}
	var text bytes.Buffer
	if err := render.Diagnostics(&text, p.Files, diags, 100, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "undeclared-refs.diags.txt.golden", text.Bytes())
	var js bytes.Buffer
	if err := render.JSON(&js, render.NewValidateJSON(p.Files, diags)); err != nil {
		t.Fatal(err)
	}
	golden(t, "undeclared-refs.validate.json.golden", js.Bytes())
}

func TestValidateJSON(t *testing.T) {
	rng := hcl.Range{Filename: "p.hcl", Start: hcl.Pos{Line: 3, Column: 5, Byte: 20}, End: hcl.Pos{Line: 3, Column: 9, Byte: 24}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Bad", Detail: "Fix it.", Subject: &rng},
		{Severity: hcl.DiagWarning, Summary: "Odd", Detail: "Maybe fix it."},
		{Severity: hcl.DiagError, Summary: "From -var", Detail: "No range."},
	}
	v := render.NewValidateJSON(nil, diags)
	if v.Valid || v.ErrorCount != 2 || v.WarningCount != 1 || len(v.Diagnostics) != 3 {
		t.Errorf("counts: %+v", v)
	}
	if r := v.Diagnostics[0].Range; r == nil || r.Filename != "p.hcl" || r.Start.Line != 3 || r.Start.Column != 5 || r.End.Column != 9 {
		t.Errorf("range: %+v", r)
	}
	if v.Diagnostics[1].Severity != "warning" || v.Diagnostics[1].Range != nil {
		t.Errorf("warning: %+v", v.Diagnostics[1])
	}
	empty := render.NewValidateJSON(nil, nil)
	var b bytes.Buffer
	_ = render.JSON(&b, empty)
	if got := b.String(); got != "{\n  \"format_version\": \"1.0\",\n  \"valid\": true,\n  \"error_count\": 0,\n  \"warning_count\": 0,\n  \"diagnostics\": []\n}\n" {
		t.Errorf("empty document:\n%s", got)
	}
}

// A big batch is drawn through its barriers: edges grow with the steps, not
// with the square of the batch (1,000 targets 256 at a time drew 4 × 256²
// step pairs per batch before).
func TestGraphOfBigBatchIsLinear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.hcl")
	if err := os.WriteFile(path, []byte(bigplan.Rollout(1000, 256)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, g := loadPlan(t, path)
	for _, format := range render.GraphFormats {
		var b bytes.Buffer
		if err := render.Graph(&b, p.Name, g, format); err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(b.String(), "\n"); lines > 6*len(p.Steps) {
			t.Errorf("%s: %d lines for %d steps: not linear", format, lines, len(p.Steps))
		}
	}
}
