package dsl_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// An expected diagnostic, written in an invalid plan as a comment on the
// line the diagnostic must point at:
//
//	image = "x y" # error: Invalid image reference
//	step "deplyo" "x" { # error: Unknown step type; detail: Did you mean "deploy"?
//
// The text after "error:" is a substring of the summary; after "; detail:",
// of the detail. "error(no range):" expects a diagnostic without a source
// range (values given with -var, an unreadable -var-file), written anywhere.
//
// Lines "# option: -var NAME=VALUE", "# option: -var-file FILE" (relative to
// testdata/invalid; FILE is scanned for expectations too) and
// "# option: -env NAME=VALUE" set the Options the plan is loaded with.
type expectation struct {
	file    string // base name; "" for no range
	line    int    // 0 for no range
	summary string
	detail  string
}

func (e expectation) String() string {
	s := fmt.Sprintf("%s:%d: %q", e.file, e.line, e.summary)
	if e.detail != "" {
		s += fmt.Sprintf(" (detail %q)", e.detail)
	}
	return s
}

var (
	expectRE = regexp.MustCompile(`(?:#|//)\s*error(\(no range\))?:\s*([^#]*)`)
	optionRE = regexp.MustCompile(`^\s*#\s*option:\s*(-var|-var-file|-env)\s+(\S+)\s*$`)
)

// readExpectations scans one file for expectations and options.
func readExpectations(t *testing.T, path string, opts *dsl.Options) []expectation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := optionRE.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "-var":
				v, err := dsl.ParseVarFlag(m[2])
				if err != nil {
					t.Fatalf("%s:%d: %v", path, n, err)
				}
				opts.Vars = append(opts.Vars, v)
			case "-var-file":
				vf := filepath.Join("testdata/invalid", m[2])
				opts.VarFiles = append(opts.VarFiles, vf)
				out = append(out, readExpectations(t, vf, opts)...)
			case "-env":
				opts.Env = append(opts.Env, m[2])
			}
			continue
		}
		for _, m := range expectRE.FindAllStringSubmatch(line, -1) {
			e := expectation{file: filepath.Base(path), line: n}
			if m[1] != "" {
				e.file, e.line = "", 0
			}
			e.summary = strings.TrimSpace(m[2])
			if s, d, ok := strings.Cut(e.summary, "; detail:"); ok {
				e.summary, e.detail = strings.TrimSpace(s), strings.TrimSpace(d)
			}
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInvalid loads every plan of testdata/invalid and checks, file by file,
// that its diagnostics are exactly the expected ones: each diagnostic
// expected, each expectation met, on the line written.
func TestInvalid(t *testing.T) {
	for _, path := range plansIn(t, "testdata/invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var opts dsl.Options
			var want []expectation
			files := []string{path}
			if info, err := os.Stat(path); err == nil && info.IsDir() {
				files, _ = filepath.Glob(filepath.Join(path, "*.hcl"))
			}
			for _, f := range files {
				want = append(want, readExpectations(t, f, &opts)...)
			}
			if len(want) == 0 {
				t.Fatal("no expectations: an invalid plan must say which errors it expects")
			}
			_, _, diags := load(t, path, opts)
			if !diags.HasErrors() {
				t.Fatal("plan loaded without errors")
			}
			met := make([]bool, len(want))
		diag:
			for _, d := range diags {
				got := expectation{summary: d.Summary}
				if d.Subject != nil {
					got.file, got.line = filepath.Base(d.Subject.Filename), d.Subject.Start.Line
				}
				for i, w := range want {
					if !met[i] && w.file == got.file && w.line == got.line &&
						strings.Contains(d.Summary, w.summary) && strings.Contains(d.Detail, w.detail) {
						met[i] = true
						checkDiagnostic(t, d, w)
						continue diag
					}
				}
				t.Errorf("unexpected diagnostic %s", diagString(d))
			}
			for i, w := range want {
				if !met[i] {
					t.Errorf("expected diagnostic not reported: %s", w)
				}
			}
		})
	}
}

// checkDiagnostic holds every error to the standard users rely on: a detail
// that says how to fix it, and a source range, except for values that come
// from the command line.
func checkDiagnostic(t *testing.T, d *hcl.Diagnostic, w expectation) {
	t.Helper()
	if d.Severity != hcl.DiagError {
		return
	}
	if strings.TrimSpace(d.Detail) == "" {
		t.Errorf("%s: empty detail", diagString(d))
	}
	if w.line == 0 {
		return
	}
	if d.Subject == nil || d.Subject.Filename == "" || d.Subject.Start.Line == 0 {
		t.Errorf("%s: no source range", diagString(d))
	}
}
