// Tests of `plan validate -format github`: the workflow commands against
// golden files, GitHub's escaping rules, paths relative to the workspace,
// and the exit codes, which are validate's whatever the format.
package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

const warningsPlan = "testdata/github/warnings.hcl"

func TestValidateGitHubGolden(t *testing.T) {
	t.Setenv("GITHUB_WORKSPACE", "")
	cases := []struct {
		name, path string
		code       int
	}{
		{"undeclared-refs", invalidRefs, 1},
		{"cycle-three", invalidCycle, 1},
		{"warnings", warningsPlan, 0},
		{"rolling-update", rollingUpdate, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := plan(t, "validate", "-format", "github", c.path)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			// Annotations only: the text rendering would repeat every
			// problem in the log, unannotated.
			if stderr != "" {
				t.Errorf("stderr not empty: %s", stderr)
			}
			golden(t, "testdata/github/"+c.name+".validate.github.golden", []byte(stdout))
		})
	}
}

// TestValidateGitHubOneCommandPerDiagnostic checks the output against the
// diagnostics validate -json reports for the same plan: every diagnostic is
// one command line of its severity, at its line, with its summary as title.
func TestValidateGitHubOneCommandPerDiagnostic(t *testing.T) {
	t.Setenv("GITHUB_WORKSPACE", "")
	for _, path := range []string{invalidRefs, invalidCycle, warningsPlan} {
		_, js, _ := plan(t, "validate", "-json", path)
		doc := decodeValidate(t, js)
		_, gh, _ := plan(t, "validate", "-format", "github", path)
		var cmds []string
		for _, l := range strings.Split(strings.TrimSpace(gh), "\n") {
			if strings.HasPrefix(l, "::") {
				cmds = append(cmds, l)
			}
		}
		if len(cmds) != len(doc.Diagnostics) {
			t.Fatalf("%s: %d commands for %d diagnostics:\n%s", path, len(cmds), len(doc.Diagnostics), gh)
		}
		for i, d := range doc.Diagnostics {
			want := "::" + d.Severity + " file=" + d.Range.Filename + ",line=" + strconv.Itoa(d.Range.Start.Line) + ","
			if !strings.HasPrefix(cmds[i], want) {
				t.Errorf("%s: command %d = %s\nwant prefix %s", path, i, cmds[i], want)
			}
			if !strings.Contains(cmds[i], ",title="+ghProperty(d.Summary)+"::") {
				t.Errorf("%s: command %d lacks title %q: %s", path, i, d.Summary, cmds[i])
			}
		}
	}
}

func TestValidateGitHubEscaping(t *testing.T) {
	r := func(l1, c1, l2, c2 int) *hcl.Range {
		return &hcl.Range{Filename: "plans/a,b:c%.hcl", Start: hcl.Pos{Line: l1, Column: c1}, End: hcl.Pos{Line: l2, Column: c2}}
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Bad: a, b 100%", Detail: "line one\r\nline two: 50%, done", Subject: r(3, 5, 3, 9)},
		{Severity: hcl.DiagWarning, Summary: "Spans lines", Detail: "", Subject: r(3, 1, 7, 2)},
		{Severity: hcl.DiagError, Summary: "No range", Detail: "about the plan as a whole"},
		{Severity: hcl.DiagError, Summary: "Empty range", Detail: "d", Subject: r(2, 4, 2, 4)},
	}
	var b bytes.Buffer
	if err := writeGitHubDiags(&b, diags, ""); err != nil {
		t.Fatal(err)
	}
	want := "" +
		// Properties escape % first, then CR, LF, ':' and ','; the message
		// keeps ':' and ',' (it ends the line) but escapes %, CR and LF.
		"::error file=plans/a%2Cb%3Ac%25.hcl,line=3,col=5,endLine=3,endColumn=8,title=Bad%3A a%2C b 100%25::line one%0D%0Aline two: 50%25, done\n" +
		// Columns only on one line; an empty detail repeats the summary.
		"::warning file=plans/a%2Cb%3Ac%25.hcl,line=3,endLine=7,title=Spans lines::Spans lines\n" +
		"::error title=No range::about the plan as a whole\n" +
		"::error file=plans/a%2Cb%3Ac%25.hcl,line=2,col=4,endLine=2,endColumn=4,title=Empty range::d\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestValidateGitHubWorkspacePaths: an annotation names a file by its path
// in the repository, so names are made relative to GITHUB_WORKSPACE, also
// when the plan was given by an absolute path or through -chdir.
func TestValidateGitHubWorkspacePaths(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_WORKSPACE", repo)
	abs, err := filepath.Abs(invalidRefs)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-format", "github", invalidRefs},
		{"validate", "-format", "github", abs},
	} {
		code, stdout, _ := plan(t, args...)
		if code != 1 || !strings.HasPrefix(stdout, "::error file=dsl/testdata/invalid/undeclared-refs.hcl,line=10,") {
			t.Errorf("%v: exit %d:\n%s", args, code, stdout)
		}
	}
	// Outside the workspace: the name as given.
	t.Setenv("GITHUB_WORKSPACE", t.TempDir())
	if _, stdout, _ := plan(t, "validate", "-format", "github", invalidRefs); !strings.HasPrefix(stdout, "::error file="+invalidRefs+",") {
		t.Errorf("outside the workspace:\n%s", stdout)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatal(err)
	}
}

func TestValidateFormatFlag(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"validate", "-format", "json", invalidRefs}, 1, `"error_count": 8`, ""},
		{[]string{"validate", "-format", "text", invalidRefs}, 1, "", "Error: Reference to undeclared input variable"},
		{[]string{"validate", "-json", "-format", "json", rollingUpdate}, 0, `"valid": true`, ""},
		{[]string{"validate", "-json", "-format", "github", rollingUpdate}, 1, "", "-json and -format github disagree"},
		{[]string{"validate", "-format", "sarif", rollingUpdate}, 1, "", `-format "sarif" is not a validate format; use text, json or github.`},
		{[]string{"validate", "-format", "github", "testdata/nope.hcl"}, 1, "::error title=Cannot read plan", ""},
	}
	for _, c := range cases {
		code, stdout, stderr := plan(t, c.args...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout ∋ %q, stderr ∋ %q", c.args, code, c.code, stdout, stderr, c.stdout, c.stderr)
		}
	}
}
