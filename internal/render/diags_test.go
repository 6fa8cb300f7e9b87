package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// A run-time error that carries a plan range renders as validate renders a
// diagnostic: summary, file and line, the snippet, and the whole error text
// (with what was added on the way up) as the detail; without one, as text.
func TestErrorRendersRangesWithSnippet(t *testing.T) {
	src := []byte("step \"deploy\" \"app2\" {\n  container = \"app9\"\n}\n")
	f, diags := hclsyntax.ParseConfig(src, "plan.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files := map[string]*hcl.File{"plan.hcl": f}
	subject := hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 2, Column: 15, Byte: 37}, End: hcl.Pos{Line: 2, Column: 21, Byte: 43}}
	inner := dsl.At(errors.New(`no container "app9"`), "Container not found", subject)
	for _, tc := range []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{"ranged", fmt.Errorf("step.deploy.app2 failed: %w (the step's timeout of 1s passed)", inner),
			[]string{"Error: Container not found", "on plan.hcl line 2", `container = "app9"`, `step.deploy.app2 failed: no container "app9" (the step's timeout of 1s passed)`}, nil},
		{"two ranges", errors.Join(inner, dsl.At(errors.New("second"), "Other", subject)),
			[]string{"Error: Container not found", "Error: Other", "second"}, nil},
		{"plain", errors.New("the engine does not answer"), []string{"Error: the engine does not answer\n"}, []string{"line"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Error(&b, files, tc.err, 100, false); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestSnippetJSON: a diagnostic's snippet is Terraform's: the whole line
// its range is on, the enclosing block as context, and offsets that cut
// exactly the range out of the code; a long line is cut to the window the
// text renderer shows.
func TestSnippetJSON(t *testing.T) {
	src := "step \"deploy\" \"app\" {\n  image = var.imgae\n}\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), "p.hcl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files := map[string]*hcl.File{"p.hcl": f}
	start := strings.Index(src, "var.imgae")
	rng := hcl.Range{Filename: "p.hcl", Start: hcl.Pos{Line: 2, Column: 11, Byte: start}, End: hcl.Pos{Line: 2, Column: 20, Byte: start + 9}}
	d := NewDiagnosticJSON(files, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Bad", Subject: &rng})
	s := d.Snippet
	if s == nil {
		t.Fatal("no snippet")
	}
	if s.Code != "  image = var.imgae" || s.StartLine != 2 || s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != "var.imgae" || s.Values == nil {
		t.Errorf("snippet %+v", s)
	}
	if s.Context == nil || *s.Context != `step "deploy" "app"` {
		t.Errorf("context %v", s.Context)
	}
	// No source: no snippet, the range stays.
	if d := NewDiagnosticJSON(nil, &hcl.Diagnostic{Summary: "x", Subject: &rng}); d.Snippet != nil || d.Range == nil {
		t.Errorf("without files: %+v", d)
	}

	long := "x = \"" + strings.Repeat("a", 5000) + "\" + bad\n"
	lf, _ := hclsyntax.ParseConfig([]byte(long), "l.hcl", hcl.Pos{Line: 1, Column: 1})
	at := strings.Index(long, "bad")
	lr := hcl.Range{Filename: "l.hcl", Start: hcl.Pos{Line: 1, Column: at + 1, Byte: at}, End: hcl.Pos{Line: 1, Column: at + 4, Byte: at + 3}}
	ls := NewDiagnosticJSON(map[string]*hcl.File{"l.hcl": lf}, &hcl.Diagnostic{Summary: "x", Subject: &lr}).Snippet
	if ls == nil || len(ls.Code) > MaxSnippetLine+8 || ls.Code[ls.HighlightStartOffset:ls.HighlightEndOffset] != "bad" {
		t.Errorf("long line: %+v", ls)
	}
}
