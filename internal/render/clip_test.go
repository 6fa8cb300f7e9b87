package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestDiagnosticsClipLongLines: a snippet line of 200 KB is cut to a
// window around the range, with the right line number; short lines are
// shown whole.
func TestDiagnosticsClipLongLines(t *testing.T) {
	long := "x = \"" + strings.Repeat("a", 100000) + "MARK" + strings.Repeat("b", 100000) + "\"\n"
	src := []byte("# first\n" + long + "y = 1\n")
	off := bytes.Index(src, []byte("MARK"))
	files := map[string]*hcl.File{"plan.hcl": {Bytes: src}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Long", Detail: "d",
			Subject: &hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 2, Column: off - 7, Byte: off}, End: hcl.Pos{Line: 2, Column: off - 3, Byte: off + 4}}},
		{Severity: hcl.DiagError, Summary: "Short", Detail: "d",
			Subject: &hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 3, Column: 1, Byte: len(src) - 6}, End: hcl.Pos{Line: 3, Column: 2, Byte: len(src) - 5}}},
	}
	var out bytes.Buffer
	if err := Diagnostics(&out, files, diags, 100, false); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if len(got) > 2000 {
		t.Fatalf("%d bytes of output: the long line is not cut", len(got))
	}
	for _, want := range []string{"on plan.hcl line 2:", "   2: …aaa", "MARKbbb", "bbb…", "   3: y = 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
