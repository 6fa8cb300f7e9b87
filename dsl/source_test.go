package dsl_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/steps"
)

// hostileHeader is a valid plan start that the hostile inputs append to.
const hostileHeader = "nginx \"proxy\" {\n  container = \"nginx\"\n  config = \"nginx.conf\"\n  upstream = \"apps\"\n}\n"

// TestHostileSources feeds inputs nobody writes by hand: each must give
// exactly one error, on the line of the problem, and never crash.
func TestHostileSources(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	cases := []struct {
		name, src string
		summary   string
		line      int
	}{
		{"70,000 parentheses", "locals {\n  x = " + deep("(", ")", 70000) + "\n}\n", "Nesting too deep", 2},
		{"brackets", "locals {\n  x = " + deep("[", "]", 5000) + "\n}\n", "Nesting too deep", 2},
		{"objects", "locals {\n  x = " + deep("{a=", "}", 5000) + "\n}\n", "Nesting too deep", 2},
		{"interpolations", "locals {\n  x = " + deep(`"${`, `}"`, 3000) + "\n}\n", "Nesting too deep", 2},
		{"function calls", "locals {\n  x = " + deep("abs(", ")", 5000) + "\n}\n", "Nesting too deep", 2},
		{"blocks", hostileHeader + "step \"drain\" \"a\" {\n" + strings.Repeat("http {\n", 3000) + strings.Repeat("}\n", 3001), "Nesting too deep", 6 + dsl.MaxNesting},
		{"NUL bytes", hostileHeader + "step \"drain\" \"a\" {\x00\x00\x00}\n", "Not a text file", 6},
		{"terminal escapes", hostileHeader + "\n\x1b[2J\x1b]0;owned\x07\n", "Not a text file", 7},
		{"invalid UTF-8", "\xff\xfe" + hostileHeader, "Not a text file", 1},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "plan.hcl")
			if err := os.WriteFile(path, []byte(c.src), 0o600); err != nil {
				t.Fatal(err)
			}
			p, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
			if len(diags) != 1 {
				t.Fatalf("%d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			if d.Summary != c.summary || d.Subject == nil || d.Subject.Start.Line != c.line {
				t.Fatalf("got %s, want %q on line %d", diagString(d), c.summary, c.line)
			}
			// The snippet shown for it holds nothing a terminal obeys.
			for _, b := range p.Files[path].Bytes {
				if b < 0x20 && b != '\n' && b != '\t' || b == 0x7f {
					t.Fatalf("the snippet source holds byte %#x", b)
				}
			}
		})
	}
}

// TestNestingWithinBound: a plan nested as deep as allowed still loads.
func TestNestingWithinBound(t *testing.T) {
	n := dsl.MaxNesting - 10
	src := "locals {\n  x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + "\n}\n" +
		hostileHeader + "step \"drain\" \"a\" {\n  nginx = nginx.proxy\n  server = \"a:1\"\n}\nstep \"restore\" \"a\" {\n  nginx = nginx.proxy\n  server = \"a:1\"\n  depends_on = [step.drain.a]\n}\n"
	path := filepath.Join(t.TempDir(), "plan.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, diags := dsl.Load(path, steps.Builtin(), dsl.Options{}); diags.HasErrors() {
		t.Fatal(diags)
	}
}

// TestSpecialFiles: a FIFO as the plan, inside a plan folder or as a
// -var-file is refused at once; reading it would block forever.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(folder, "b.hcl"), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.hcl")
	if err := os.WriteFile(plan, []byte("variable \"v\" {\n  default = 1\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		opts       dsl.Options
		summary    string
	}{
		{"plan", fifo, dsl.Options{}, "Cannot read plan file"},
		{"in folder", folder, dsl.Options{}, "Cannot read plan file"},
		{"-var-file", plan, dsl.Options{VarFiles: []string{fifo}}, "Cannot read -var-file"},
		{"-var-file folder", plan, dsl.Options{VarFiles: []string{folder}}, "Cannot read -var-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan hcl.Diagnostics, 1)
			go func() {
				_, diags := dsl.Load(c.path, steps.Builtin(), c.opts)
				done <- diags
			}()
			select {
			case diags := <-done:
				if len(diags) == 0 || diags[0].Summary != c.summary || !strings.Contains(diags[0].Detail, "not a regular file") {
					t.Fatalf("got %v, want %q ... not a regular file", diags, c.summary)
				}
			case <-time.After(time.Minute):
				t.Fatal("Load blocked on a FIFO")
			}
		})
	}
}

// TestEmptyPlan: a plan with nothing to do validates with a warning, not
// a silent success.
func TestEmptyPlan(t *testing.T) {
	for name, src := range map[string]string{
		"empty file":   "",
		"only comment": "# nothing here\n",
		"only blocks":  hostileHeader + "variable \"v\" {\n  default = 1\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
			if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "Empty plan" ||
				diags[0].Subject == nil || diags[0].Subject.Start.Line != 1 {
				t.Fatalf("want one Empty plan warning on line 1, got %v", diags)
			}
		})
	}
}

// TestLengthOfString: length() counts the characters of a string, as in
// Terraform (go-cty's takes collections only).
func TestLengthOfString(t *testing.T) {
	for cond, valid := range map[string]bool{
		`length(var.v) == 4`:             true,
		`length(var.v) == 5`:             false,
		`length([var.v, var.v]) == 2`:    true,
		`length({ a = var.v }) == 1`:     true,
		`length(split("é", var.v)) == 2`: true,
	} {
		src := "variable \"v\" {\n  default = \"café\"\n  validation {\n    condition = " + cond + "\n    error_message = \"bad\"\n  }\n}\nstep \"deploy\" \"a\" {\n  container = \"a\"\n  image = \"x:${var.v}\"\n}\n"
		path := filepath.Join(t.TempDir(), "plan.hcl")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
		if diags.HasErrors() == valid {
			t.Errorf("%s: valid %v, diagnostics %v", cond, valid, diags)
		}
	}
}
