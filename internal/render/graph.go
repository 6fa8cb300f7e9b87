// This file renders the step DAG for `plan graph`: Graphviz dot and Mermaid.
package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/nonstop-deploy/nonstop/executor"
)

// GraphFormats are the formats `plan graph` writes.
var GraphFormats = []string{"dot", "mermaid"}

// Graph writes the step DAG. Edges point in the direction work flows, from
// a step to the steps that wait for it. Nodes and edges are in source order,
// so the output of an unchanged plan never changes.
func Graph(w io.Writer, name string, g *executor.Graph, format string) error {
	switch format {
	case "dot":
		return dot(w, name, g)
	case "mermaid":
		return mermaid(w, g)
	}
	return fmt.Errorf("unknown graph format %q: use dot or mermaid", format)
}

func dot(w io.Writer, name string, g *executor.Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(name))
	b.WriteString("  rankdir = \"LR\";\n  node [shape = \"box\", style = \"rounded\"];\n")
	for _, s := range g.Steps {
		fmt.Fprintf(&b, "  %s [label = %s];\n", dotQuote(s.Addr), dotQuote(s.Addr+"\n"+s.Type))
	}
	for i := range g.Steps {
		for _, j := range g.Deps(i) {
			fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(g.Steps[j].Addr), dotQuote(g.Steps[i].Addr))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// mermaid writes a flowchart GitHub renders in a pull request comment.
// Node ids are positional (s0, s1, ...) because addresses hold characters
// Mermaid ids cannot; labels carry the address.
func mermaid(w io.Writer, g *executor.Graph) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for i, s := range g.Steps {
		fmt.Fprintf(&b, "  s%d[\"%s<br/><i>%s</i>\"]\n", i, mermaidEscape(s.Addr), s.Type)
	}
	for i := range g.Steps {
		for _, j := range g.Deps(i) {
			fmt.Fprintf(&b, "  s%d --> s%d\n", j, i)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mermaidEscape(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
