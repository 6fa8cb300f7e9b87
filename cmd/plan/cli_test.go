package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/hashicorp/cli"
)

// TestChdir: -chdir=DIR before the command makes every path relative to
// DIR; a missing DIR, or -chdir without "=", is an error, exit 1.
func TestChdir(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"plan relative to DIR", []string{"-chdir=../../plans", "validate", "rolling-update.hcl"}, 0, "Success! The plan is valid.", ""},
		{"--chdir", []string{"--chdir=../../plans", "validate", "rolling-update.hcl"}, 0, "Success!", ""},
		{"var-file relative to DIR", []string{"-chdir=testdata/vars", "show", "-format", "json", "-var-file", "first.json", "plan.hcl"}, 0, `"source": "-var-file first.json"`, ""},
		{"diagnostics name paths from DIR", []string{"-chdir=../../dsl/testdata/invalid", "validate", "undeclared-refs.hcl"}, 1, "", "on undeclared-refs.hcl line 10"},
		{"path not relative to DIR", []string{"-chdir=testdata", "validate", rollingUpdate}, 1, "", "Cannot read plan"},
		{"missing DIR", []string{"-chdir=no-such-folder", "validate", "x.hcl"}, 1, "", "Error: -chdir=no-such-folder: no such file or directory"},
		{"DIR is a file", []string{"-chdir=main.go", "version"}, 1, "", "Error: -chdir=main.go: not a directory"},
		{"no =", []string{"-chdir", "../../plans", "validate", "rolling-update.hcl"}, 1, "", "-chdir needs a folder, with an equals sign: -chdir=DIR"},
		{"after the command", []string{"validate", "-chdir=../../plans", "rolling-update.hcl"}, 1, "", "flag provided but not defined: -chdir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(origDir) // restored after the run's own chdir
			code, stdout, stderr := plan(t, c.args...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q / %q", code, c.code, stdout, stderr, c.stdout, c.stderr)
			}
		})
	}
}

// TestVersionJSON: version -json is one JSON document in the shape of
// terraform version -json, with nothing else.
func TestVersionJSON(t *testing.T) {
	code, stdout, stderr := plan(t, "version", "-json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var v struct {
		Version  string `json:"plan_version"`
		Go       string `json:"go"`
		Platform string `json:"platform"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if v.Version != version || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"_"+runtime.GOARCH {
		t.Errorf("%+v", v)
	}
	if dec.More() {
		t.Errorf("more than one document: %s", stdout)
	}
	for _, flag := range []string{"-version", "-v", "--version"} {
		if code, stdout2, _ := plan(t, flag, "-json"); code != 0 || stdout2 != stdout {
			t.Errorf("plan %s -json: exit %d, %q; want the same as plan version -json", flag, code, stdout2)
		}
	}
	if code, _, stderr := plan(t, "version", "extra"); code != 1 || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("version extra: exit %d, %s", code, stderr)
	}
}

// TestJSONVarFile: a -var-file named *.json is an object of name → value,
// as Terraform's *.tfvars.json: its strings are literal, it takes its
// place in the precedence, and its errors point at file:line:column.
func TestJSONVarFile(t *testing.T) {
	const dir = "testdata/vars/"
	vars := showVars(t, "-var-file", dir+"first.json", varsPlan)
	if vars["version"] != [2]string{`"from-json-${not.a.template}"`, "-var-file " + dir + "first.json"} || vars["replicas"][0] != "3" {
		t.Errorf("from first.json: %q", vars)
	}
	if got := showVars(t, "-var-file", dir+"first.json", "-var-file", dir+"second.vars", varsPlan)["version"]; got[0] != `"from-var-file-2"` {
		t.Errorf("a later HCL file over a JSON one: %q", got)
	}
	if got := showVars(t, "-var", "version=flag", "-var-file", dir+"first.json", varsPlan)["version"]; got[0] != `"flag"` {
		t.Errorf("-var over a JSON file: %q", got)
	}

	bad := []struct {
		file, summary   string
		line, column    int
		snippet         string
		notInOutput     string
		wantOneDiagOnly bool
	}{
		{"broken.json", "Trailing comma in object", 3, 16, `3:   "replicas": 3,`, "Root value must be object", true},
		{"wrong-type.json", "Invalid value for variable", 3, 3, `3:   "replicas": "many"`, "", true},
		{"array.json", "Incorrect JSON value type", 1, 1, `1: ["version", "v2"]`, "", true},
	}
	for _, c := range bad {
		t.Run(c.file, func(t *testing.T) {
			code, stdout, stderr := plan(t, "validate", "-var-file", dir+c.file, varsPlan)
			if code != 1 || !strings.Contains(stderr, "Error: "+c.summary) || !strings.Contains(stderr, c.snippet) ||
				!strings.Contains(stderr, "on "+dir+c.file+" line "+itoa(c.line)) {
				t.Errorf("exit %d, stdout %s\nstderr:\n%s", code, stdout, stderr)
			}
			if c.notInOutput != "" && strings.Contains(stderr, c.notInOutput) {
				t.Errorf("an echo of the first error: %s", stderr)
			}
			_, stdout, _ = plan(t, "validate", "-json", "-var-file", dir+c.file, varsPlan)
			doc := decodeValidate(t, stdout)
			if len(doc.Diagnostics) != 1 {
				t.Fatalf("%d diagnostics: %s", len(doc.Diagnostics), stdout)
			}
			r := doc.Diagnostics[0].Range
			if r == nil || r.Filename != dir+c.file || r.Start.Line != c.line || r.Start.Column != c.column {
				t.Errorf("range %+v, want %s:%d:%d", r, c.file, c.line, c.column)
			}
		})
	}
	t.Run("golden", func(t *testing.T) {
		_, _, stderr := plan(t, "validate", "-var-file", dir+"broken.json", varsPlan)
		golden(t, "testdata/broken-json-var-file.validate.txt.golden", []byte(stderr))
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRollbackNoJournal: rollback where no apply ran says so, exit 0; it
// does not claim an apply "finished cleanly".
func TestRollbackNoJournal(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := plan(t, "rollback", "-state-dir", dir, rollingUpdate)
	want := "Nothing to roll back: no apply of this plan has run (no journal in " + dir + ").\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("exit %d\nstdout %q, want %q\nstderr %q", code, stdout, want, stderr)
	}
	if strings.Contains(stdout, "finished cleanly") {
		t.Error("claims an apply finished")
	}
	if code, stdout, _ := plan(t, "status", "-state-dir", dir, rollingUpdate); code != 0 || !strings.Contains(stdout, "Last apply: none") {
		t.Errorf("status: exit %d, %s", code, stdout)
	}
}

// commandsUnderTest returns every command with its name.
func commandsUnderTest(t *testing.T) map[string]cli.Command {
	t.Helper()
	m := &meta{stdout: io.Discard, stderr: io.Discard}
	out := map[string]cli.Command{}
	for name, f := range commands(m) {
		c, err := f()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = c
	}
	return out
}

// TestHelpListsEveryFlag: every command's usage line and its Options
// list every flag its flag set defines, -no-color included; completion
// offers every one of them too.
func TestHelpListsEveryFlag(t *testing.T) {
	for name, c := range commandsUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			fc, ok := c.(flagged)
			if !ok {
				t.Fatalf("%s has no flags() method", name)
			}
			ac, ok := c.(cli.CommandAutocomplete)
			if !ok {
				t.Fatalf("%s does not complete its flags", name)
			}
			completes := ac.AutocompleteFlags()
			code, stdout, stderr := plan(t, name, "-help")
			h := stdout + stderr
			if code != 0 || h != c.Help()+"\n" {
				t.Fatalf("plan %s -help: exit %d, not its Help():\n%s", name, code, h)
			}
			usageLine, rest, _ := strings.Cut(h, "\n\n")
			if !strings.HasPrefix(usageLine, "Usage: plan "+name+" ") && usageLine != "Usage: plan "+name {
				t.Errorf("usage line: %q", usageLine)
			}
			_, options, ok := strings.Cut(rest, "\nOptions:\n")
			if !ok {
				t.Errorf("no Options section:\n%s", h)
			}
			n := 0
			fc.flags().VisitAll(func(f *flag.Flag) {
				n++
				inUsage := regexp.MustCompile(`\[-` + regexp.QuoteMeta(f.Name) + `[ =\]]`)
				if !inUsage.MatchString(usageLine) {
					t.Errorf("-%s is not in the usage line %q", f.Name, usageLine)
				}
				inOptions := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(f.Name) + `([ =]|$)`)
				if !inOptions.MatchString(options) {
					t.Errorf("-%s is not under Options:\n%s", f.Name, options)
				}
				if _, ok := completes["-"+f.Name]; !ok {
					t.Errorf("-%s does not complete", f.Name)
				}
			})
			if _, ok := completes["-no-color"]; !ok || n == 0 {
				t.Errorf("no -no-color (%d flags)", n)
			}
		})
	}
}

// TestNoColor: every command takes -no-color, and no escape sequence
// reaches its output (which, here, is not a terminal).
func TestNoColor(t *testing.T) {
	state := t.TempDir()
	runs := []struct {
		args []string
		code int
	}{
		{[]string{"validate", "-no-color", invalidRefs}, 1},
		{[]string{"show", "-no-color", rollingUpdate}, 0},
		{[]string{"graph", "-no-color", rollingUpdate}, 0},
		{[]string{"fmt", "-no-color", "-check", "-diff", "testdata/fmt/misaligned.in"}, 3},
		{[]string{"apply", "-no-color", invalidCycle}, 1},
		{[]string{"rollback", "-no-color", "-state-dir", state, rollingUpdate}, 0},
		{[]string{"status", "-no-color", "-state-dir", state, rollingUpdate}, 0},
		{[]string{"unlock", "-no-color", "-state-dir", state, "x", rollingUpdate}, 1},
		{[]string{"version", "-no-color"}, 0},
	}
	for _, r := range runs {
		code, stdout, stderr := plan(t, r.args...)
		if code != r.code || strings.Contains(stderr, "flag provided but not defined") {
			t.Errorf("%v: exit %d, want %d\n%s", r.args, code, r.code, stderr)
		}
		if strings.Contains(stdout+stderr, "\x1b") {
			t.Errorf("%v: an escape sequence in the output:\n%q", r.args, stdout+stderr)
		}
	}
	// With -no-color the diagnostics are not coloured even on a terminal.
	m := &meta{stderr: os.Stderr, noColor: true}
	if m.color() {
		t.Error("color() with -no-color")
	}
}

// TestAutocomplete: completion is installed with Terraform's flag names,
// and the shell's request completes commands, their flags and the values
// of the flags that take one of a few.
func TestAutocomplete(t *testing.T) {
	// The install itself edits the real user's shell rc file (the
	// library finds it from the user database, not $HOME), so it is not
	// run here: the flags' names are checked, as Terraform spells them.
	c := newCLI([]string{"-install-autocomplete"}, commands(&meta{}), io.Discard, io.Discard)
	if c.AutocompleteInstall != "install-autocomplete" || c.AutocompleteUninstall != "uninstall-autocomplete" || !c.Autocomplete {
		t.Errorf("completion flags: %q %q", c.AutocompleteInstall, c.AutocompleteUninstall)
	}
	if !strings.Contains(help(commands(&meta{})), "-install-autocomplete") {
		t.Error("plan -help does not name -install-autocomplete")
	}

	cases := []struct {
		line string
		want []string
	}{
		{"plan ap", []string{"apply"}},
		{"plan apply -auto", []string{"-auto-approve"}},
		{"plan apply -no", []string{"-no-color"}},
		{"plan show -format ", []string{"json", "markdown", "text"}},
		{"plan rollback -log-level ", []string{"debug", "error", "info", "warn"}},
		{"plan version -", []string{"-json", "-no-color"}},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			t.Setenv("COMP_LINE", c.line)
			t.Setenv("COMP_POINT", itoa(len(c.line)))
			got := captureStdout(t, func() {
				if code, _, stderr := plan(t, "ignored"); code != 0 {
					t.Errorf("exit %d: %s", code, stderr)
				}
			})
			lines := strings.Fields(got)
			for _, w := range c.want {
				if !strings.Contains(" "+strings.Join(lines, " ")+" ", " "+w+" ") {
					t.Errorf("completions %q lack %q", lines, w)
				}
			}
		})
	}
}

// captureStdout returns what f writes on the process's standard output:
// the completion library writes there, not to the CLI's writer.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	f()
	os.Stdout = old
	w.Close()
	return <-done
}

// openPTY opens a pseudo-terminal: the terminal end plan writes to, and
// the other end the test reads.
func openPTY(t *testing.T) (term, reader *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	var n, unlock uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return s, m
}

// TestNoColorOnTerminal: on a terminal, diagnostics are coloured; with
// -no-color (or NO_COLOR) not one escape sequence is written.
func TestNoColorOnTerminal(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     string
		escapes bool
	}{
		{"terminal", []string{"validate", invalidRefs}, "", true},
		{"-no-color", []string{"validate", "-no-color", invalidRefs}, "", false},
		{"NO_COLOR", []string{"validate", invalidRefs}, "1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", c.env)
			term, reader := openPTY(t)
			got := make(chan string)
			go func() {
				var b strings.Builder
				buf := make([]byte, 4096)
				for {
					n, err := reader.Read(buf)
					b.Write(buf[:n])
					if err != nil || strings.Contains(b.String(), "END-OF-TEST") {
						break
					}
				}
				got <- b.String()
			}()
			var out strings.Builder
			code := run(c.args, &out, term)
			_, _ = term.WriteString("END-OF-TEST\n")
			s := <-got
			if code != 1 || !strings.Contains(s, "Reference to undeclared input variable") {
				t.Fatalf("exit %d:\n%q", code, s)
			}
			if has := strings.Contains(s, "\x1b["); has != c.escapes {
				t.Errorf("escape sequences: %v, want %v\n%q", has, c.escapes, s)
			}
		})
	}
}

// TestNoColorProgress: on a terminal, apply's and rollback's progress is
// the live table, which moves the cursor with escape sequences; with
// -no-color it is one plain line per event.
func TestNoColorProgress(t *testing.T) {
	t.Setenv("TERM", "xterm")
	term, _ := openPTY(t)
	for _, noColor := range []bool{false, true} {
		m := &meta{stdout: term, stderr: term, noColor: noColor}
		_, closeProgress, live := m.progressPrinter(nil, []string{"step.deploy.app"})
		closeProgress()
		if live == noColor {
			t.Errorf("-no-color=%v: live table %v", noColor, live)
		}
	}
}
