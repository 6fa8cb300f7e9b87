// This file holds `plan graph`: the step DAG as dot or Mermaid.
package main

import (
	"flag"
	"io"

	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
)

type graphCommand struct {
	meta   *meta
	format string
}

func (c *graphCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("graph", true)
	fs.StringVar(&c.format, "format", "dot", "output `dot|mermaid`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *graphCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *graphCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *graphCommand) Synopsis() string { return "Print the step graph (DOT or Mermaid)" }

// Help implements cli.Command.
func (c *graphCommand) Help() string {
	return commandHelp(c, "PATH", `
  Prints the plan's step graph. Arrows point from a step to the steps that
  wait for it. Output is deterministic: an unchanged plan gives the same
  bytes, so it can be committed and diffed.

Options:
  -format FORMAT   dot (default; render with Graphviz) or mermaid (GitHub
                   renders it in a pull-request comment inside a
                   `+"```mermaid"+` fence).
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file, or a JSON one (*.json)
                   (repeatable).
  -no-color        No colour or other terminal escapes.

Exit status: 0, or 1 when the plan is invalid.

Examples:
  plan graph plans/rolling-update.hcl | dot -Tsvg > graph.svg
  plan graph -format mermaid plans/rolling-update-rollout.hcl
`)
}

// Run implements cli.Command.
func (c *graphCommand) Run(args []string) int {
	return c.meta.renderCommand(c.flags(), args, &c.format, render.GraphFormats, "dot or mermaid",
		func(w io.Writer, p *dsl.Plan, g *executor.Graph, format string) error {
			return render.Graph(w, p.Name, g, format)
		})
}
