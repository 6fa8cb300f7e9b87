// This file holds what every command shares: the plan loader with its
// variable flags, the step registry, and the one renderer of errors.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/internal/runner"
	"github.com/nonstop-deploy/nonstop/steps"
)

// Exit codes shared by every command; apply adds 2 and 3.
const (
	exitOK    = 0
	exitError = 1
	// exitChanged is fmt -check's "a file would change".
	exitChanged = 3
)

// meta holds what every command shares: output streams and the flags that
// feed variables.
type meta struct {
	ui             cli.Ui
	stdout, stderr io.Writer
	// steps are the step types plans are decoded and run with.
	steps *steps.Registry

	vars     varFlags
	varFiles stringList
	// log is the operator log's level and format from the environment.
	log logSettings
	// noColor is -no-color: no ANSI escape at all, as Terraform's.
	noColor bool
}

// varFlags collects repeated -var name=value flags.
type varFlags []dsl.VarFlag

// String implements flag.Value.
func (v *varFlags) String() string { return "" }

// Set implements flag.Value.
func (v *varFlags) Set(s string) error {
	f, err := dsl.ParseVarFlag(s)
	if err != nil {
		return err
	}
	*v = append(*v, f)
	return nil
}

type stringList []string

// String implements flag.Value.
func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value.
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// flagSet returns a flag set that reports errors on stderr and never exits.
func (m *meta) flagSet(name string, withVars bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {}
	fs.BoolVar(&m.noColor, "no-color", false, "no colour or other terminal escapes in the output")
	if withVars {
		fs.Var(&m.vars, "var", "set a variable: -var `name=value` (repeatable)")
		fs.Var(&m.varFiles, "var-file", "read variables from an HCL or JSON `FILE` (repeatable)")
	}
	return fs
}

// onePath returns the single PATH argument, or reports usage.
func (m *meta) onePath(cmd string, args []string) (string, bool) {
	if len(args) != 1 {
		fmt.Fprintf(m.stderr, "Error: plan %s takes one PATH (a plan file or a folder of *.hcl files); got %d arguments.\nRun \"plan %s -help\" for usage.\n", cmd, len(args), cmd)
		return "", false
	}
	return args[0], true
}

// load reads a plan and builds its graph, returning every diagnostic.
func (m *meta) load(path string) (*dsl.Plan, *executor.Graph, hcl.Diagnostics) {
	p, diags := dsl.Load(path, m.steps, dsl.Options{Vars: m.vars, VarFiles: m.varFiles, Env: os.Environ()})
	if diags.HasErrors() {
		return p, nil, diags
	}
	g, gd := executor.Build(p)
	diags = append(diags, gd...)
	if !gd.HasErrors() {
		diags = append(diags, steps.Lint(p, g)...)
	}
	return p, g, diags
}

// showDiags renders diagnostics on stderr with source snippets.
func (m *meta) showDiags(p *dsl.Plan, diags hcl.Diagnostics) {
	var files map[string]*hcl.File
	if p != nil {
		files = p.Files
	}
	_ = render.Diagnostics(m.stderr, files, diags, 100, m.color())
}

// showError prints a run-time error on stderr: a problem about a place in
// the plan with its file:line and snippet (render.Error), anything else as
// text; preflight's problems one after the other under one header. Sensitive
// values are hidden. Lines are not wrapped: a run-time error quotes paths,
// addresses and nginx's own words, which must stay searchable whole.
func (m *meta) showError(p *dsl.Plan, red *runner.Redactor, err error) {
	var files map[string]*hcl.File
	if p != nil {
		files = p.Files
	}
	var b bytes.Buffer
	var pe *runner.PreflightError
	if errors.As(err, &pe) {
		fmt.Fprintf(&b, "Error: preflight found %d problem(s); nothing was changed:\n", len(pe.Problems))
		for _, prob := range pe.Problems {
			if _, ok := dsl.Diagnostics(prob); ok {
				_ = render.Error(&b, files, prob, 0, m.color())
			} else {
				fmt.Fprintf(&b, "  - %s\n", prob)
			}
		}
	} else {
		_ = render.Error(&b, files, err, 0, m.color())
	}
	_, _ = io.WriteString(m.stderr, red.String(b.String()))
}

// color is true when stderr is a terminal, and neither -no-color nor
// NO_COLOR is set.
func (m *meta) color() bool {
	if f, ok := m.stderr.(*os.File); ok && os.Getenv("NO_COLOR") == "" && !m.noColor {
		return isatty.IsTerminal(f.Fd())
	}
	return false
}

// renderCommand is the body of the review commands that load a plan and
// render it in one of several formats (show, graph): flags, one PATH,
// diagnostics, then the rendering.
func (m *meta) renderCommand(fs *flag.FlagSet, args []string, format *string, formats []string, use string,
	out func(io.Writer, *dsl.Plan, *executor.Graph, string) error) int {
	name := fs.Name()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if !slices.Contains(formats, *format) {
		fmt.Fprintf(m.stderr, "Error: -format %q is not a %s format; use %s.\n", *format, name, use)
		return exitError
	}
	path, ok := m.onePath(name, fs.Args())
	if !ok {
		return exitError
	}
	p, g, diags := m.load(path)
	m.showDiags(p, diags)
	if diags.HasErrors() {
		return exitError
	}
	if err := out(m.stdout, p, g, *format); err != nil {
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitError
	}
	return exitOK
}
