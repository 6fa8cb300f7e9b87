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
// so the output of an unchanged plan never changes. A rollout batch's phase
// is drawn as the junction it is (a small node the batch's steps meet at),
// so a batch of b targets is 2b edges per phase, as in the graph itself,
// not the b² a picture of every step pair would take.
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
	for v := len(g.Steps); v < g.Nodes(); v++ {
		fmt.Fprintf(&b, "  %s [shape = \"point\", xlabel = %s];\n", dotQuote(g.Barrier(v).Addr), dotQuote(g.Barrier(v).Addr))
	}
	nodeName := func(v int) string {
		if bar := g.Barrier(v); bar != nil {
			return bar.Addr
		}
		return g.Steps[v].Addr
	}
	for v := 0; v < g.Nodes(); v++ {
		for _, j := range g.NodeDeps(v) {
			fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(nodeName(j)), dotQuote(nodeName(v)))
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
	// Barriers are b0, b1, ...: a small circle with the phase's name.
	id := func(v int) string {
		if v >= len(g.Steps) {
			return fmt.Sprintf("b%d", v-len(g.Steps))
		}
		return fmt.Sprintf("s%d", v)
	}
	for v := len(g.Steps); v < g.Nodes(); v++ {
		fmt.Fprintf(&b, "  %s((\"%s\"))\n", id(v), mermaidEscape(g.Barrier(v).Addr))
	}
	for v := 0; v < g.Nodes(); v++ {
		for _, j := range g.NodeDeps(v) {
			fmt.Fprintf(&b, "  %s --> %s\n", id(j), id(v))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mermaidEscape(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
