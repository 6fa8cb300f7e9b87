// This file holds `plan diff OLD NEW`: what changed between two versions
// of a plan, after variables and locals are evaluated, for review.
package main

import (
	"flag"
	"fmt"
	"slices"

	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/internal/render"
)

// exitDifferent is diff's "the plans differ", as diff(1)'s 1 would read
// like an error in a script that checks plan's exit codes.
const exitDifferent = 2

type diffCommand struct {
	meta   *meta
	format string
}

func (c *diffCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("diff", true)
	fs.StringVar(&c.format, "format", "text", "output `text|markdown|json`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *diffCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *diffCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *diffCommand) Synopsis() string { return "Show what changed between two versions of a plan" }

// Help implements cli.Command.
func (c *diffCommand) Help() string {
	return commandHelp(c, "OLD NEW", `
  Compares two versions of a plan (files or folders) as show sees them,
  after variables and locals are evaluated: steps added, removed, moved in
  apply order or waiting for other steps, and each attribute that changed
  with its old and new value. Steps are matched by address. A sensitive
  value is never shown: a change to it prints as (sensitive) changed.

  Static, like show: it never talks to Docker or nginx.

Options:
  -format FORMAT   text (default), markdown (a table fit for a pull
                   request comment) or json.
  -var name=value  Set a variable in both plans (repeatable).
  -var-file FILE   Read variables for both plans from an HCL file, or a
                   JSON one (*.json) (repeatable).
  -no-color        No colour or other terminal escapes.

Exit status: 0 when the plans do the same thing, 2 when they differ, 1
when either plan is invalid (its errors are shown).

Examples:
  plan diff old/rolling-update.hcl plans/rolling-update.hcl
  git show main:plans/app.hcl > /tmp/app.hcl &&
    plan diff -format markdown /tmp/app.hcl plans/app.hcl > diff.md
`)
}

// Run implements cli.Command.
func (c *diffCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if !slices.Contains(render.DiffFormats, c.format) {
		fmt.Fprintf(m.stderr, "Error: -format %q is not a diff format; use text, markdown or json.\n", c.format)
		return exitError
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(m.stderr, "Error: plan diff takes two PATHs, OLD and NEW (plan files or folders); got %d arguments.\nRun \"plan diff -help\" for usage.\n", fs.NArg())
		return exitError
	}
	oldPath, newPath := fs.Arg(0), fs.Arg(1)
	op, og, odiags := m.load(oldPath)
	m.showDiags(op, odiags)
	np, ng, ndiags := m.load(newPath)
	m.showDiags(np, ndiags)
	if odiags.HasErrors() || ndiags.HasErrors() {
		return exitError
	}
	d := render.NewDiff(oldPath, op, og, newPath, np, ng)
	if err := render.WriteDiff(m.stdout, d, c.format); err != nil {
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitError
	}
	if d.Empty() {
		return exitOK
	}
	return exitDifferent
}
