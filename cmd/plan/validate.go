// This file holds `plan validate`: parse, build the graph, lint, and print
// the diagnostics as text, as Terraform's validate -json, or as GitHub
// Actions workflow commands (validate_github.go).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/internal/render"
)

type validateCommand struct {
	meta   *meta
	asJSON bool
	format string
}

func (c *validateCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("validate", true)
	fs.BoolVar(&c.asJSON, "json", false, "machine-readable output")
	fs.StringVar(&c.format, "format", "text", "output `text|json|github`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *validateCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *validateCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *validateCommand) Synopsis() string {
	return "Check a plan for errors, without touching Docker or nginx"
}

// Help implements cli.Command.
func (c *validateCommand) Help() string {
	return commandHelp(c, "PATH", `
  Parses the plan at PATH (a file, or a folder of *.hcl files), checks every
  block, reference and type, builds the step graph and checks it for cycles.
  It is static: it never talks to Docker or nginx, so it is safe in CI and
  in pull-request checks.

  Every problem is reported, each with its file, line and a way to fix it.

Options:
  -json            Print the result as JSON, in the shape of
                   "terraform validate -json". The same as -format json.
  -format FORMAT   text (default), json, or github: one GitHub Actions
                   workflow command per problem on stdout
                   (::error file=F,line=L,col=C,...,title=SUMMARY::DETAIL),
                   which a workflow run turns into annotations on the pull
                   request. Paths are relative to GITHUB_WORKSPACE.
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file, or a JSON one (*.json)
                   (repeatable).
  -no-color        No colour or other terminal escapes.

Exit status: 0 valid, 1 invalid.

Examples:
  plan validate plans/rolling-update.hcl
  plan validate -json plans/ | jq .error_count
  plan validate -format github plans/   # in a GitHub Actions step
`)
}

// Run implements cli.Command.
func (c *validateCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	format := c.format
	if c.asJSON {
		if format != "text" && format != "json" {
			fmt.Fprintf(m.stderr, "Error: -json and -format %s disagree; give one of them.\n", format)
			return exitError
		}
		format = "json"
	}
	if format != "text" && format != "json" && format != "github" {
		fmt.Fprintf(m.stderr, "Error: -format %q is not a validate format; use text, json or github.\n", format)
		return exitError
	}
	path, ok := m.onePath("validate", fs.Args())
	if !ok {
		return exitError
	}
	p, _, diags := m.load(path)
	switch format {
	case "json":
		var files map[string]*hcl.File
		if p != nil {
			files = p.Files
		}
		_ = render.JSON(m.stdout, render.NewValidateJSON(files, diags))
	case "github":
		_ = writeGitHubDiags(m.stdout, diags, os.Getenv("GITHUB_WORKSPACE"))
		m.validSummary(diags)
	default:
		m.showDiags(p, diags)
		m.validSummary(diags)
	}
	if diags.HasErrors() {
		return exitError
	}
	return exitOK
}

// validSummary prints the closing line of a valid plan (nothing for an
// invalid one: its errors were the output).
func (m *meta) validSummary(diags hcl.Diagnostics) {
	switch {
	case diags.HasErrors():
	case len(diags) > 0:
		// As Terraform: valid, but the warnings above are not noise.
		m.ui.Output("Success! The plan is valid, but there were warnings, shown above.")
	default:
		m.ui.Output("Success! The plan is valid.")
	}
}
