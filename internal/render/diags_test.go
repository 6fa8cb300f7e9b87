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
