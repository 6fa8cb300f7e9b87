// This file holds `plan show`: what apply will do, in order, for review.
package main

import (
	"flag"
	"io"

	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
)

type showCommand struct {
	meta   *meta
	format string
}

func (c *showCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("show", true)
	fs.StringVar(&c.format, "format", "text", "output `text|markdown|json`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *showCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *showCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *showCommand) Synopsis() string { return "Show what apply would do, in order, for review" }

// Help implements cli.Command.
func (c *showCommand) Help() string {
	return commandHelp(c, "PATH", `
  Shows every step apply would run, in execution order, grouped in waves
  whose steps may run in parallel, each with its resolved attributes.
  Values of sensitive variables print as (sensitive).

  Static, like validate: it never talks to Docker or nginx.

Options:
  -format FORMAT   text (default), markdown (fit to paste into a pull
                   request) or json.
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file, or a JSON one (*.json)
                   (repeatable).
  -no-color        No colour or other terminal escapes.

Exit status: 0, or 1 when the plan is invalid.

Examples:
  plan show plans/rolling-update.hcl
  plan show -format markdown -var version=v3 plans/rolling-update.hcl > review.md
`)
}

// Run implements cli.Command.
func (c *showCommand) Run(args []string) int {
	return c.meta.renderCommand(c.flags(), args, &c.format, render.ShowFormats, "text, markdown or json",
		func(w io.Writer, p *dsl.Plan, g *executor.Graph, format string) error {
			return render.Show(w, render.NewReview(p, g), format)
		})
}
