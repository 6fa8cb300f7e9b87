package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nonstop-deploy/nonstop/internal/render"
)

type graphCommand struct{ meta *meta }

func (c *graphCommand) Synopsis() string { return "Print the step graph (DOT or Mermaid)" }

func (c *graphCommand) Help() string {
	return strings.TrimSpace(`
Usage: plan graph [-format dot|mermaid] [-var name=value] [-var-file FILE] PATH

  Prints the plan's step graph. Arrows point from a step to the steps that
  wait for it. Output is deterministic: an unchanged plan gives the same
  bytes, so it can be committed and diffed.

Options:
  -format FORMAT   dot (default; render with Graphviz) or mermaid (GitHub
                   renders it in a pull-request comment inside a
                   ` + "```mermaid" + ` fence).
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file (repeatable).

Exit status: 0, or 1 when the plan is invalid.

Examples:
  plan graph plans/rolling-update.hcl | dot -Tsvg > graph.svg
  plan graph -format mermaid plans/rolling-update-rollout.hcl
`)
}

func (c *graphCommand) Run(args []string) int {
	m := c.meta
	fs := m.flagSet("graph", true)
	format := fs.String("format", "dot", "dot or mermaid")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if !slices.Contains(render.GraphFormats, *format) {
		fmt.Fprintf(m.stderr, "Error: -format %q is not a graph format; use dot or mermaid.\n", *format)
		return exitError
	}
	path, ok := m.onePath("graph", fs.Args())
	if !ok {
		return exitError
	}
	p, g, diags := m.load(path)
	m.showDiags(p, diags)
	if diags.HasErrors() {
		return exitError
	}
	if err := render.Graph(m.stdout, p.Name, g, *format); err != nil {
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitError
	}
	return exitOK
}
