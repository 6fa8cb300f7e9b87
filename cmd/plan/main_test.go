package main

import (
	goldenfile "github.com/nonstop-deploy/nonstop/internal/testkit/golden"

	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plan runs the CLI in-process, as `plan ARGS...` would.
func plan(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with the golden file at path (-update rewrites it).
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	goldenfile.Assert(t, path, got)
}

const (
	rollingUpdate = "../../plans/rolling-update.hcl"
	rolloutPlan   = "../../plans/rolling-update-rollout.hcl"
	invalidRefs   = "../../dsl/testdata/invalid/undeclared-refs.hcl"
	invalidCycle  = "../../dsl/testdata/invalid/cycle-three.hcl"
	varsPlan      = "testdata/vars/plan.hcl"
)

func TestValidateExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"rolling update", []string{"validate", rollingUpdate}, 0, "Success! The plan is valid.", ""},
		{"rollout", []string{"validate", rolloutPlan}, 0, "Success!", ""},
		{"folder of plans", []string{"validate", "../../dsl/testdata/valid/folder-plan"}, 0, "Success!", ""},
		{"undeclared refs", []string{"validate", invalidRefs}, 1, "", "Error: Reference to undeclared input variable"},
		{"snippet", []string{"validate", invalidRefs}, 1, "", "on ../../dsl/testdata/invalid/undeclared-refs.hcl line 10, in locals:"},
		{"cycle", []string{"validate", invalidCycle}, 1, "", "Error: Dependency cycle"},
		{"no path", []string{"validate"}, 1, "", "takes one PATH"},
		{"two paths", []string{"validate", rollingUpdate, rolloutPlan}, 1, "", "takes one PATH"},
		{"missing file", []string{"validate", "testdata/nope.hcl"}, 1, "", "Error: Cannot read plan"},
		{"empty folder", []string{"validate", t.TempDir()}, 1, "", "Error: No plan files"},
		{"unknown flag", []string{"validate", "-bogus", rollingUpdate}, 1, "", "flag provided but not defined: -bogus"},
		{"bad -var", []string{"validate", "-var", "novalue", rollingUpdate}, 1, "", "expected name=value"},
		{"-var for undeclared", []string{"validate", "-var", "verison=v3", rollingUpdate}, 1, "", `Did you mean "version"?`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := plan(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stdout, c.stdout) {
				t.Errorf("stdout lacks %q:\n%s", c.stdout, stdout)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr)
			}
			if c.code == 0 && stderr != "" {
				t.Errorf("stderr not empty: %s", stderr)
			}
		})
	}
}

// validateDoc is the `validate -json` document, decoded strictly so that a
// renamed or added field fails the test.
type validateDoc struct {
	FormatVersion string `json:"format_version"`
	Valid         bool   `json:"valid"`
	ErrorCount    int    `json:"error_count"`
	WarningCount  int    `json:"warning_count"`
	Diagnostics   []struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    *struct {
			Filename string `json:"filename"`
			Start    struct {
				Line, Column, Byte int
			} `json:"start"`
			End struct {
				Line, Column, Byte int
			} `json:"end"`
		} `json:"range"`
		Snippet *struct {
			Context              *string `json:"context"`
			Code                 string  `json:"code"`
			StartLine            int     `json:"start_line"`
			HighlightStartOffset int     `json:"highlight_start_offset"`
			HighlightEndOffset   int     `json:"highlight_end_offset"`
			Values               []any   `json:"values"`
		} `json:"snippet"`
	} `json:"diagnostics"`
}

func decodeValidate(t *testing.T, s string) validateDoc {
	t.Helper()
	var doc validateDoc
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not a validate -json document: %v\n%s", err, s)
	}
	// The keys users script against, by name.
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != "1.0" {
		t.Errorf("format_version %q, want 1.0", doc.FormatVersion)
	}
	for _, d := range doc.Diagnostics {
		// Terraform's snippet: present exactly when there is a range, the
		// highlight inside the code.
		if (d.Range == nil) != (d.Snippet == nil) {
			t.Errorf("range and snippet disagree: %+v", d)
		}
		if s := d.Snippet; s != nil && (s.StartLine != d.Range.Start.Line || s.HighlightStartOffset > s.HighlightEndOffset || s.HighlightEndOffset > len(s.Code) || s.Values == nil) {
			t.Errorf("bad snippet %+v for range %+v", *s, *d.Range)
		}
	}
	for _, k := range []string{"format_version", "valid", "error_count", "warning_count", "diagnostics"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q key in %s", k, s)
		}
	}
	return doc
}

func TestValidateJSON(t *testing.T) {
	for _, flag := range []string{"-json", "--json"} {
		t.Run(flag+"/valid", func(t *testing.T) {
			code, stdout, stderr := plan(t, "validate", flag, rollingUpdate)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			doc := decodeValidate(t, stdout)
			if !doc.Valid || doc.ErrorCount != 0 || doc.WarningCount != 0 || doc.Diagnostics == nil || len(doc.Diagnostics) != 0 {
				t.Errorf("valid plan: %+v", doc)
			}
			if !strings.Contains(stdout, `"diagnostics": []`) {
				t.Errorf("diagnostics must be an empty list, not null:\n%s", stdout)
			}
		})
		t.Run(flag+"/invalid", func(t *testing.T) {
			code, stdout, stderr := plan(t, "validate", flag, invalidRefs)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stderr != "" {
				t.Errorf("with -json, stderr must stay empty: %s", stderr)
			}
			doc := decodeValidate(t, stdout)
			if doc.Valid || doc.ErrorCount != 8 || doc.ErrorCount != len(doc.Diagnostics) {
				t.Errorf("invalid plan: valid=%v errors=%d diagnostics=%d", doc.Valid, doc.ErrorCount, len(doc.Diagnostics))
			}
			d := doc.Diagnostics[0]
			if d.Severity != "error" || d.Summary != "Reference to undeclared input variable" || !strings.Contains(d.Detail, `Did you mean "version"?`) {
				t.Errorf("first diagnostic: %+v", d)
			}
			if d.Range == nil || filepath.Base(d.Range.Filename) != "undeclared-refs.hcl" ||
				d.Range.Start.Line != 10 || d.Range.Start.Column != 13 || d.Range.End.Line != 10 || d.Range.End.Column != 21 {
				t.Errorf("first diagnostic range: %+v", d.Range)
			}
		})
	}
	t.Run("cycle", func(t *testing.T) {
		code, stdout, _ := plan(t, "validate", "-json", invalidCycle)
		doc := decodeValidate(t, stdout)
		if code != 1 || doc.ErrorCount != 2 || doc.Diagnostics[0].Range.Start.Line != 13 || doc.Diagnostics[1].Range.Start.Line != 31 {
			t.Errorf("exit %d: %+v", code, doc)
		}
	})
	t.Run("-var without a range", func(t *testing.T) {
		code, stdout, _ := plan(t, "validate", "-json", "-var", "nope=1", rollingUpdate)
		doc := decodeValidate(t, stdout)
		if code != 1 || doc.ErrorCount != 1 || doc.Diagnostics[0].Range != nil || !strings.Contains(stdout, `"summary": "Value for undeclared variable"`) {
			t.Errorf("exit %d: %s", code, stdout)
		}
		if strings.Contains(stdout, `"range"`) {
			t.Errorf("a diagnostic without a source has no range key: %s", stdout)
		}
	})
}

func TestShowAndGraphFormats(t *testing.T) {
	for _, format := range []string{"text", "markdown", "json"} {
		code, stdout, stderr := plan(t, "show", "-format", format, rollingUpdate)
		if code != 0 || stdout == "" || stderr != "" {
			t.Errorf("show -format %s: exit %d, stderr %s", format, code, stderr)
		}
	}
	for _, format := range []string{"dot", "mermaid"} {
		code, stdout, stderr := plan(t, "graph", "-format", format, rollingUpdate)
		if code != 0 || stdout == "" || stderr != "" {
			t.Errorf("graph -format %s: exit %d, stderr %s", format, code, stderr)
		}
	}
	// Defaults: show is text, graph is dot.
	if _, stdout, _ := plan(t, "show", rollingUpdate); !strings.HasPrefix(stdout, "Plan: rolling-update\n") {
		t.Errorf("show default is not text:\n%s", stdout)
	}
	if _, stdout, _ := plan(t, "graph", rollingUpdate); !strings.HasPrefix(stdout, `digraph "rolling-update" {`) {
		t.Errorf("graph default is not dot:\n%s", stdout)
	}
	bad := []struct {
		args   []string
		stderr string
	}{
		{[]string{"show", "-format", "yaml", rollingUpdate}, `-format "yaml" is not a show format`},
		{[]string{"graph", "-format", "svg", rollingUpdate}, `-format "svg" is not a graph format`},
		{[]string{"show", invalidRefs}, "Error: Reference to undeclared"},
		{[]string{"graph", invalidCycle}, "Error: Dependency cycle"},
		{[]string{"show"}, "takes one PATH"},
		{[]string{"graph", "a.hcl", "b.hcl"}, "takes one PATH"},
	}
	for _, c := range bad {
		code, stdout, stderr := plan(t, c.args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", c.args, code)
		}
		if stdout != "" {
			t.Errorf("%v: wrote to stdout on error: %s", c.args, stdout)
		}
		if !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: stderr lacks %q:\n%s", c.args, c.stderr, stderr)
		}
	}
}

// TestCLIGolden pins the output of the review commands on the example
// plans, end to end through flags.
func TestCLIGolden(t *testing.T) {
	cases := map[string][]string{
		"rolling-update.show.md":         {"show", "-format", "markdown", rollingUpdate},
		"rolling-update-rollout.mermaid": {"graph", "-format", "mermaid", rolloutPlan},
		"undeclared-refs.validate.txt":   {"validate", invalidRefs},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, stdout, stderr := plan(t, args...)
			golden(t, filepath.Join("testdata", name+".golden"), []byte(stdout+stderr))
		})
	}
}

// showVars returns the variables section of show -format json.
func showVars(t *testing.T, args ...string) map[string][2]string {
	t.Helper()
	code, stdout, stderr := plan(t, append([]string{"show", "-format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("show %v: exit %d\n%s", args, code, stderr)
	}
	var doc struct {
		Variables []struct{ Name, Value, Source string } `json:"variables"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for _, v := range doc.Variables {
		out[v.Name] = [2]string{v.Value, v.Source}
	}
	return out
}

// TestVariablePrecedence: default < PLAN_VAR_ environment < -var-file (in
// order) < -var (in order).
func TestVariablePrecedence(t *testing.T) {
	first, second := "testdata/vars/first.vars", "testdata/vars/second.vars"
	cases := []struct {
		name   string
		env    string
		args   []string
		value  string
		source string
	}{
		{"default", "", nil, `"from-default"`, "default"},
		{"env", "from-env", nil, `"from-env"`, "environment variable PLAN_VAR_version"},
		{"var-file over env", "from-env", []string{"-var-file", first}, `"from-var-file-1"`, "-var-file " + first},
		{"later var-file wins", "", []string{"-var-file", first, "-var-file", second}, `"from-var-file-2"`, "-var-file " + second},
		{"-var over var-file and env", "from-env", []string{"-var", "version=from-flag", "-var-file", first}, `"from-flag"`, "-var version"},
		{"later -var wins", "", []string{"-var", "version=one", "-var", "version=two"}, `"two"`, "-var version"},
		{"-var value with =", "", []string{"-var", "version=a=b"}, `"a=b"`, "-var version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("PLAN_VAR_version", c.env)
			}
			vars := showVars(t, append(c.args, varsPlan)...)
			if got := vars["version"]; got != [2]string{c.value, c.source} {
				t.Errorf("version = %q, want %q from %q", got, c.value, c.source)
			}
		})
	}
	t.Run("typed values", func(t *testing.T) {
		t.Setenv("PLAN_VAR_replicas", "5")
		if got := showVars(t, varsPlan)["replicas"]; got != [2]string{"5", "environment variable PLAN_VAR_replicas"} {
			t.Errorf("replicas from env = %q", got)
		}
		if got := showVars(t, "-var-file", first, varsPlan)["replicas"]; got[0] != "2" {
			t.Errorf("replicas from var-file = %q", got)
		}
		if got := showVars(t, "-var", "replicas=7", varsPlan)["replicas"]; got[0] != "7" {
			t.Errorf("replicas from -var = %q", got)
		}
		code, _, stderr := plan(t, "show", "-var", "replicas=many", varsPlan)
		if code != 1 || !strings.Contains(stderr, "Invalid value for variable") {
			t.Errorf("-var replicas=many: exit %d\n%s", code, stderr)
		}
	})
}

// TestSensitive: the value of a sensitive variable, from a default or from
// any source, is never printed; where it is used, "(sensitive)" is.
func TestSensitive(t *testing.T) {
	const secret = "hunter2-from-flag"
	t.Setenv("PLAN_VAR_token", "hunter2-from-env")
	runs := [][]string{
		{"show", "-format", "text"},
		{"show", "-format", "markdown"},
		{"show", "-format", "json"},
		{"graph", "-format", "dot"},
		{"graph", "-format", "mermaid"},
		{"validate"},
		{"validate", "-json"},
	}
	for _, args := range runs {
		for _, varArgs := range [][]string{nil, {"-var", "token=" + secret}} {
			all := append(append(append([]string{}, args...), varArgs...), varsPlan)
			code, stdout, stderr := plan(t, all...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s", all, code, stderr)
			}
			for _, leaked := range []string{secret, "hunter2-from-env", "default-token-value"} {
				if strings.Contains(stdout+stderr, leaked) {
					t.Errorf("%v prints the sensitive value %q:\n%s", all, leaked, stdout)
				}
			}
			if args[0] == "show" && strings.Count(stdout, "(sensitive)") < 3 {
				// The variable, the env that uses it, the expect_body.
				t.Errorf("%v: (sensitive) should stand for the variable and both uses:\n%s", all, stdout)
			}
		}
	}
	// Not in error messages either, when the plan rejects the value.
	for _, args := range [][]string{{"validate"}, {"validate", "-json"}, {"show"}} {
		all := append(args, "-var", "token=bad secret; x", "testdata/vars/sensitive-errors.hcl")
		code, stdout, stderr := plan(t, all...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", all, code)
		}
		if !strings.Contains(stdout+stderr, "Invalid server address") || !strings.Contains(stdout+stderr, "Invalid function argument") {
			t.Errorf("%v: the errors are missing:\n%s%s", all, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "bad secret") {
			t.Errorf("%v quotes the sensitive value:\n%s%s", all, stdout, stderr)
		}
	}
}

func TestFmtGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/fmt/*.in")
	if len(ins) == 0 {
		t.Fatal("no testdata/fmt/*.in")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), name+".hcl")
			if err := os.WriteFile(path, src, 0o640); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := plan(t, "fmt", path); code != 0 {
				t.Fatalf("fmt: exit %d: %s", code, stderr)
			}
			got, _ := os.ReadFile(path)
			golden(t, strings.TrimSuffix(in, ".in")+".out", got)
			if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
				t.Errorf("fmt changed the file mode to %v", info.Mode().Perm())
			}
			// Formatting is idempotent: a formatted file passes -check.
			if code, stdout, _ := plan(t, "fmt", "-check", path); code != 0 || stdout != "" {
				t.Errorf("fmt -check after fmt: exit %d, %s", code, stdout)
			}
		})
	}
}

func TestFmtCheckAndDiff(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src, err := os.ReadFile(filepath.Join(origDir, "testdata/fmt/misaligned.in"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("misaligned.hcl", src, 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, _ := plan(t, "fmt", "-check", "misaligned.hcl")
	if code != 3 || stdout != "misaligned.hcl\n" {
		t.Errorf("fmt -check on an unformatted file: exit %d, stdout %q; want 3 and its name", code, stdout)
	}
	if after, _ := os.ReadFile("misaligned.hcl"); !bytes.Equal(after, src) {
		t.Error("fmt -check changed the file")
	}

	code, stdout, _ = plan(t, "fmt", "-check", "-diff", "-list=false", "misaligned.hcl")
	if code != 3 {
		t.Errorf("fmt -check -diff: exit %d, want 3", code)
	}
	golden(t, filepath.Join(origDir, "testdata/fmt/misaligned.diff"), []byte(stdout))

	// A folder: only the file that changes is listed.
	formatted, _ := os.ReadFile(filepath.Join(origDir, "testdata/fmt/formatted.out"))
	if err := os.WriteFile("formatted.hcl", formatted, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := plan(t, "fmt", "-check", "."); code != 3 || stdout != "misaligned.hcl\n" {
		t.Errorf("fmt -check .: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := plan(t, "fmt", "-check", "formatted.hcl"); code != 0 || stdout != "" {
		t.Errorf("fmt -check on a formatted file: exit %d, stdout %q", code, stdout)
	}

	// Sub-folders only with -recursive.
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("sub/deep.hcl", src, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := plan(t, "fmt", "-check", "-recursive", "."); code != 3 || stdout != "misaligned.hcl\nsub/deep.hcl\n" {
		t.Errorf("fmt -check -recursive: exit %d, stdout %q", code, stdout)
	}

	// Writing: the files change, the output lists them, the next check passes.
	if code, stdout, _ := plan(t, "fmt", "-recursive", "."); code != 0 || stdout != "misaligned.hcl\nsub/deep.hcl\n" {
		t.Errorf("fmt -recursive: exit %d, stdout %q", code, stdout)
	}
	if code, _, _ := plan(t, "fmt", "-check", "-recursive", "."); code != 0 {
		t.Errorf("fmt -check after fmt: exit %d", code)
	}

	// A file that does not parse is reported and left alone.
	broken := []byte("step \"deploy\" \"x\" {\n  image = = 1\n}\n")
	if err := os.WriteFile("broken.hcl", broken, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := plan(t, "fmt", "broken.hcl")
	if code != 1 || !strings.Contains(stderr, "Invalid expression") {
		t.Errorf("fmt on a syntax error: exit %d, stderr %s", code, stderr)
	}
	if after, _ := os.ReadFile("broken.hcl"); !bytes.Equal(after, broken) {
		t.Error("fmt rewrote a file it could not parse")
	}
	if code, _, _ := plan(t, "fmt", "nope.hcl"); code != 1 {
		t.Errorf("fmt on a missing file: exit %d", code)
	}
}

func TestFmtStdin(t *testing.T) {
	src, _ := os.ReadFile("testdata/fmt/nested.in")
	want, _ := os.ReadFile("testdata/fmt/nested.out")
	withStdin := func(data []byte, args ...string) (int, string) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = w.Write(data); w.Close() }()
		old := os.Stdin
		os.Stdin = r
		defer func() { os.Stdin = old; r.Close() }()
		code, stdout, _ := plan(t, args...)
		return code, stdout
	}
	if code, stdout := withStdin(src, "fmt", "-"); code != 0 || stdout != string(want) {
		t.Errorf("fmt -: exit %d\n%s", code, stdout)
	}
	if code, _ := withStdin(src, "fmt", "-check", "-"); code != 3 {
		t.Errorf("fmt -check - on unformatted input: exit %d, want 3", code)
	}
	if code, _ := withStdin(want, "fmt", "-check", "-"); code != 0 {
		t.Errorf("fmt -check - on formatted input: exit %d, want 0", code)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, stdout, stderr := plan(t, "-help")
	if code != 0 {
		t.Errorf("plan -help: exit %d", code)
	}
	for _, want := range []string{"validate", "fmt", "show", "graph", "Examples:"} {
		if !strings.Contains(stdout+stderr, want) {
			t.Errorf("plan -help lacks %q", want)
		}
	}
	for _, cmd := range []string{"validate", "fmt", "show", "graph"} {
		_, stdout, stderr := plan(t, cmd, "-help")
		if out := stdout + stderr; !strings.Contains(out, "Usage: plan "+cmd) || !strings.Contains(out, "Examples:") {
			t.Errorf("plan %s -help:\n%s", cmd, out)
		}
	}
	if code, stdout, _ := plan(t, "version"); code != 0 || !strings.HasPrefix(stdout, "plan ") {
		t.Errorf("plan version: exit %d, %q", code, stdout)
	}
}

// origDir is the package folder, for tests that change directory.
var origDir, _ = os.Getwd()

// TestSensitiveWrongType: a sensitive value of the wrong type, from a
// -var-file, -var or the environment, gets one error that quotes it
// nowhere, not even in the snippet of the -var-file's line.
func TestSensitiveWrongType(t *testing.T) {
	const plan0 = "testdata/vars/sensitive-number.hcl"
	for _, args := range [][]string{
		{"validate", "-var-file", "testdata/vars/sensitive-number.vars", plan0},
		{"validate", "-json", "-var-file", "testdata/vars/sensitive-number.vars", plan0},
		{"validate", "-var", "port=hunter2-in-a-flag", plan0},
	} {
		code, stdout, stderr := plan(t, args...)
		out := stdout + stderr
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("%v prints the sensitive value:\n%s", args, out)
		}
		if n := strings.Count(out, "Invalid value for variable"); n != 1 || strings.Contains(out, "no value was given") {
			t.Errorf("%v: want one error, no second one:\n%s", args, out)
		}
	}
}

// TestUnknownCommand: a mistyped command is an error that names it and
// suggests the command meant, exit 1 (not the usage and 127).
func TestUnknownCommand(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"valdiate", "x.hcl"}, `Did you mean "validate"?`},
		{[]string{"aply"}, `Did you mean "apply"?`},
		{[]string{"deploy"}, "The commands are: apply, diff, fmt"},
	}
	for _, c := range cases {
		code, stdout, stderr := plan(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "is not a plan command") || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 1 and %q", c.args, code, stderr, stdout, c.want)
		}
	}
	if code, _, _ := plan(t, "version"); code != 0 {
		t.Errorf("plan version: exit %d", code)
	}
}

// TestFmtHostile: fmt writes through a symbolic link (the link stays a
// link), shows the snippet of a file it cannot parse, refuses a FIFO at
// once, and reports nesting too deep instead of crashing.
func TestFmtHostile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src, err := os.ReadFile(filepath.Join(origDir, "testdata/fmt/misaligned.in"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(origDir, "testdata/fmt/misaligned.out"))
	if err := os.Mkdir("real", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("real/plan.hcl", src, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real/plan.hcl", "link.hcl"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := plan(t, "fmt", "link.hcl"); code != 0 {
		t.Fatalf("fmt link.hcl: exit %d\n%s", code, stderr)
	}
	if fi, err := os.Lstat("link.hcl"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("fmt replaced the symbolic link with a file (%v)", err)
	}
	if got, _ := os.ReadFile("real/plan.hcl"); !bytes.Equal(got, want) {
		t.Errorf("the file behind the link was not formatted:\n%s", got)
	}
	if fi, _ := os.Stat("real/plan.hcl"); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}

	if err := os.WriteFile("broken.hcl", []byte("step \"deploy\" \"x\" {\n  image = = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := plan(t, "fmt", "broken.hcl")
	if code != 1 || strings.Contains(stderr, "source code not available") || !strings.Contains(stderr, "image = = 1") {
		t.Errorf("fmt on a syntax error: exit %d, want 1 and the snippet:\n%s", code, stderr)
	}

	deep := "x = " + strings.Repeat("(", 70000) + "1" + strings.Repeat(")", 70000) + "\n"
	if err := os.WriteFile("deep.hcl", []byte(deep), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := plan(t, "fmt", "deep.hcl"); code != 1 || !strings.Contains(stderr, "Nesting too deep") {
		t.Errorf("fmt on deep nesting: exit %d\n%.300s", code, stderr)
	}

	if err := syscall.Mkfifo("pipe.hcl", 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		_, _, stderr := plan(t, "fmt", "-check", "pipe.hcl")
		done <- stderr
	}()
	select {
	case stderr := <-done:
		if !strings.Contains(stderr, "not a regular file") {
			t.Errorf("fmt on a FIFO: %s", stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("fmt blocked on a FIFO")
	}
}

// TestValidateEmptyPlan: a plan with nothing to do is valid, with a
// warning that says so, not a bare "Success!".
func TestValidateEmptyPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.hcl")
	if err := os.WriteFile(path, []byte("# nothing yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := plan(t, "validate", path)
	if code != 0 || !strings.Contains(stderr, "Warning: Empty plan") || !strings.Contains(stdout, "but there were warnings") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, _ = plan(t, "validate", "-json", path)
	if code != 0 || !strings.Contains(stdout, `"warning_count": 1`) {
		t.Errorf("-json: exit %d\n%s", code, stdout)
	}
}
