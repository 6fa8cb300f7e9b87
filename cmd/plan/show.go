// This file holds `plan show`: what apply will do, in order, for review.
package main

import (
	"io"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
)

type showCommand struct{ meta *meta }

// Synopsis implements cli.Command.
func (c *showCommand) Synopsis() string { return "Show what apply would do, in order, for review" }

// Help implements cli.Command.
func (c *showCommand) Help() string {
	return strings.TrimSpace(`
Usage: plan show [-format text|markdown|json] [-var name=value] [-var-file FILE] PATH

  Shows every step apply would run, in execution order, grouped in waves
  whose steps may run in parallel, each with its resolved attributes.
  Values of sensitive variables print as (sensitive).

  Static, like validate: it never talks to Docker or nginx.

Options:
  -format FORMAT   text (default), markdown (fit to paste into a pull
                   request) or json.
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file (repeatable).

Exit status: 0, or 1 when the plan is invalid.

Examples:
  plan show plans/rolling-update.hcl
  plan show -format markdown -var version=v3 plans/rolling-update.hcl > review.md
`)
}

// Run implements cli.Command.
func (c *showCommand) Run(args []string) int {
	return c.meta.renderCommand("show", args, "text", render.ShowFormats, "text, markdown or json",
		func(w io.Writer, p *dsl.Plan, g *executor.Graph, format string) error {
			return render.Show(w, render.NewReview(p, g), format)
		})
}
