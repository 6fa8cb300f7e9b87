// This file renders the review of a plan for `plan show`: text, markdown
// and JSON from one Review value.
package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// ShowFormats are the formats `plan show` writes.
var ShowFormats = []string{"text", "markdown", "json"}

// Review is what `plan show` presents: the plan's identity, its variables,
// and its steps in execution order, grouped in waves that may run in
// parallel. Built once and rendered in each format, so the formats cannot
// disagree.
type Review struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	OnFailure   string `json:"on_failure"`
	// State is where the lock and journals are shared (dsl.State.Describe);
	// "" for local state.
	State     string         `json:"state,omitempty"`
	Variables []ReviewVar    `json:"variables"`
	Waves     [][]ReviewStep `json:"waves"`
	StepCount int            `json:"step_count"`
}

// ReviewVar is a variable and where its value came from.
type ReviewVar struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// ReviewStep is one step with its resolved attributes.
type ReviewStep struct {
	Address    string          `json:"address"`
	Type       string          `json:"type"`
	After      []string        `json:"after"`
	Timeout    string          `json:"timeout,omitempty"`
	Attributes []dsl.Attribute `json:"attributes"`
	// Source is FILE:LINE of the block, for reviewers to jump to.
	Source string `json:"source"`
}

// timeouter is implemented by specs that know their default deadline.
type timeouter interface{ DefaultTimeout() time.Duration }

// NewReview builds the review of a plan whose graph is valid.
func NewReview(p *dsl.Plan, g *executor.Graph) *Review {
	r := &Review{Name: p.Name, Description: p.Description, OnFailure: p.OnFailure.Value, Variables: []ReviewVar{}, Waves: [][]ReviewStep{}}
	if p.State != nil {
		r.State = p.State.Describe()
	}
	for _, v := range p.Variables {
		r.Variables = append(r.Variables, ReviewVar{Name: v.Name, Value: v.Value, Source: v.Source, Sensitive: v.Sensitive})
	}
	for _, wave := range g.Waves() {
		var ws []ReviewStep
		for _, s := range wave {
			rs := ReviewStep{Address: s.Addr, Type: s.Type, After: []string{}, Attributes: []dsl.Attribute{},
				Source: fmt.Sprintf("%s:%d", relName(p, s.DeclRange.Filename), s.DeclRange.Start.Line)}
			for _, d := range s.DependsOn {
				rs.After = append(rs.After, d.Addr)
			}
			switch {
			case s.Timeout.Set:
				rs.Timeout = s.Timeout.Value.String()
			default:
				if t, ok := s.Spec.(timeouter); ok {
					rs.Timeout = t.DefaultTimeout().String()
				}
			}
			if s.Spec != nil {
				rs.Attributes = append(rs.Attributes, s.Spec.Describe()...)
			}
			ws = append(ws, rs)
			r.StepCount++
		}
		r.Waves = append(r.Waves, ws)
	}
	return r
}

// relName shortens a file name to be relative to the plan's folder.
func relName(p *dsl.Plan, name string) string {
	if rest, ok := strings.CutPrefix(name, p.Dir+"/"); ok {
		return rest
	}
	return name
}

// Show writes the review in the given format.
func Show(w io.Writer, r *Review, format string) error {
	switch format {
	case "text":
		return showText(w, r)
	case "markdown":
		return showMarkdown(w, r)
	case "json":
		return JSON(w, r)
	}
	return fmt.Errorf("unknown show format %q: use text, markdown or json", format)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func showText(w io.Writer, r *Review) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %s\n", r.Name)
	if r.Description != "" {
		fmt.Fprintf(&b, "  %s\n", r.Description)
	}
	fmt.Fprintf(&b, "  %s in %s; on failure: %s\n", plural(r.StepCount, "step", "steps"), plural(len(r.Waves), "wave", "waves"), r.OnFailure)
	if r.State != "" {
		fmt.Fprintf(&b, "  state: shared on %s\n", r.State)
	}
	if len(r.Variables) > 0 {
		b.WriteString("\nVariables:\n")
		width := 0
		for _, v := range r.Variables {
			width = max(width, len(v.Name))
		}
		for _, v := range r.Variables {
			fmt.Fprintf(&b, "  %-*s = %s  (%s)\n", width, v.Name, v.Value, v.Source)
		}
	}
	n := 0
	for i, wave := range r.Waves {
		note := ""
		if len(wave) > 1 {
			note = fmt.Sprintf(" (%d steps may run in parallel)", len(wave))
		}
		fmt.Fprintf(&b, "\nWave %d%s\n", i+1, note)
		for _, s := range wave {
			n++
			fmt.Fprintf(&b, "  %d. %s  [%s]\n", n, s.Address, s.Source)
			if len(s.After) > 0 {
				fmt.Fprintf(&b, "       after   %s\n", strings.Join(s.After, ", "))
			}
			width := len("timeout")
			for _, a := range s.Attributes {
				width = max(width, len(a.Name))
			}
			for _, a := range s.Attributes {
				fmt.Fprintf(&b, "       %-*s = %s\n", width, a.Name, a.Value)
			}
			if s.Timeout != "" {
				fmt.Fprintf(&b, "       %-*s = %s\n", width, "timeout", s.Timeout)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "``" + s + "``"
	}
	return "`" + s + "`"
}

func showMarkdown(w io.Writer, r *Review) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Plan %s\n\n", mdCode(r.Name))
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	fmt.Fprintf(&b, "**%s** in %s; on failure: **%s**.\n", plural(r.StepCount, "step", "steps"), plural(len(r.Waves), "wave", "waves"), r.OnFailure)
	if r.State != "" {
		fmt.Fprintf(&b, "State: shared on %s.\n", r.State)
	}
	if len(r.Variables) > 0 {
		b.WriteString("\n| variable | value | from |\n|---|---|---|\n")
		for _, v := range r.Variables {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCode(v.Name), mdCode(v.Value), v.Source)
		}
	}
	b.WriteString("\n| # | wave | step | does |\n|---|---|---|---|\n")
	n := 0
	for i, wave := range r.Waves {
		for _, s := range wave {
			n++
			var does []string
			for _, a := range s.Attributes {
				does = append(does, mdCode(a.Name+" = "+a.Value))
			}
			fmt.Fprintf(&b, "| %d | %d | %s | %s |\n", n, i+1, mdCode(s.Address), strings.Join(does, "<br>"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
