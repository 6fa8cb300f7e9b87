// This file compares two reviews for `plan diff`: steps added, removed,
// moved in apply order, and each attribute that changed, after variables
// and locals are evaluated; rendered as text, markdown and JSON from one
// Diff value.
package render

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// DiffFormats are the formats `plan diff` writes.
var DiffFormats = []string{"text", "markdown", "json"}

// Diff is what changed from one plan to another. Steps are matched by
// address; a step whose address changed is one removed and one added.
type Diff struct {
	Old string `json:"old"`
	New string `json:"new"`
	// Plan lists changes to the plan itself: name, description,
	// on_failure, and variables (as variable.NAME).
	Plan    []Change     `json:"plan"`
	Removed []DiffStep   `json:"removed"`
	Added   []DiffStep   `json:"added"`
	Changed []StepChange `json:"changed"`
}

// DiffStep is a step only one plan has, with its place in that plan's
// apply order (1-based, as show numbers steps).
type DiffStep struct {
	Address  string `json:"address"`
	Type     string `json:"type"`
	Position int    `json:"position"`
	// SameAs, on an added step, is the removed step at the same position
	// with the same type and attributes: the step under a new address
	// (as when a rollout block replaces copied steps).
	SameAs string `json:"same_as,omitempty"`
}

// StepChange is a step both plans have that differs.
type StepChange struct {
	Address string `json:"address"`
	// Moved is set when the shared steps in earlier waves than this one
	// changed; it holds the step's number in each plan's apply order.
	Moved *Move `json:"moved,omitempty"`
	// After is set when the steps it waits for changed.
	After      *AfterChange `json:"after,omitempty"`
	Attributes []Change     `json:"attributes"`
}

// Move is a step's position in the old and new apply order.
type Move struct {
	Old int `json:"old"`
	New int `json:"new"`
}

// AfterChange is the steps a step waits for, before and after.
type AfterChange struct {
	Old []string `json:"old"`
	New []string `json:"new"`
}

// Change is one attribute added, removed or changed. A sensitive value is
// never shown: Old and New are "(sensitive)" and only the fact of the
// change is reported.
type Change struct {
	Name      string `json:"name"`
	Change    string `json:"change"` // added, removed, changed
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Empty is true when the plans do the same thing.
func (d *Diff) Empty() bool {
	return len(d.Plan) == 0 && len(d.Removed) == 0 && len(d.Added) == 0 && len(d.Changed) == 0
}

// NewDiff compares two loaded plans whose graphs are valid. oldName and
// newName are how the output names them (the paths given).
func NewDiff(oldName string, op *dsl.Plan, og *executor.Graph, newName string, np *dsl.Plan, ng *executor.Graph) *Diff {
	d := &Diff{Old: oldName, New: newName, Plan: []Change{}, Removed: []DiffStep{}, Added: []DiffStep{}, Changed: []StepChange{}}
	or, nr := NewReview(op, og), NewReview(np, ng)
	d.Plan = append(d.Plan, diffPlan(op, np)...)

	oldSteps, newSteps := flatten(or), flatten(nr)
	oldPos, newPos := positions(oldSteps), positions(newSteps)
	oldSpec, newSpec := specs(op), specs(np)
	for i, s := range oldSteps {
		if _, ok := newPos[s.Address]; !ok {
			d.Removed = append(d.Removed, DiffStep{Address: s.Address, Type: s.Type, Position: i + 1})
		}
	}
	for i, s := range newSteps {
		if _, ok := oldPos[s.Address]; !ok {
			d.Added = append(d.Added, DiffStep{Address: s.Address, Type: s.Type, Position: i + 1})
		}
	}
	for i, a := range d.Added {
		s := newSteps[a.Position-1]
		for _, r := range d.Removed {
			o := oldSteps[r.Position-1]
			if r.Position == a.Position && o.Type == s.Type &&
				len(diffAttrs(withTimeout(o), withTimeout(s), oldSpec[o.Address], newSpec[s.Address])) == 0 {
				d.Added[i].SameAs = r.Address
			}
		}
	}
	// A step moved when the shared steps that run before it, in earlier
	// waves, changed: a step added or removed elsewhere shifts numbers
	// without moving anything, and the order within a wave is no order.
	oldBefore, newBefore := before(or, newPos), before(nr, oldPos)
	for _, s := range newSteps {
		i, ok := oldPos[s.Address]
		if !ok {
			continue
		}
		o := oldSteps[i]
		c := StepChange{Address: s.Address, Attributes: []Change{}}
		if oldBefore[s.Address] != newBefore[s.Address] {
			c.Moved = &Move{Old: i + 1, New: newPos[s.Address] + 1}
		}
		if !sameSet(o.After, s.After) {
			c.After = &AfterChange{Old: o.After, New: s.After}
		}
		if o.Type != s.Type {
			c.Attributes = append(c.Attributes, Change{Name: "type", Change: "changed", Old: o.Type, New: s.Type})
		}
		c.Attributes = append(c.Attributes, diffAttrs(withTimeout(o), withTimeout(s),
			oldSpec[s.Address], newSpec[s.Address])...)
		if c.Moved != nil || c.After != nil || len(c.Attributes) > 0 {
			d.Changed = append(d.Changed, c)
		}
	}
	return d
}

// diffPlan compares the plan-level fields and the variables' values.
func diffPlan(o, n *dsl.Plan) []Change {
	var out []Change
	field := func(name, ov, nv string) {
		if ov != nv {
			out = append(out, Change{Name: name, Change: "changed", Old: ov, New: nv})
		}
	}
	field("name", o.Name, n.Name)
	field("description", o.Description, n.Description)
	field("on_failure", o.OnFailure.Value, n.OnFailure.Value)
	field("state", o.State.Describe(), n.State.Describe())
	newVars := map[string]*dsl.Variable{}
	for _, v := range n.Variables {
		newVars[v.Name] = v
	}
	oldVars := map[string]bool{}
	for _, v := range o.Variables {
		oldVars[v.Name] = true
		nv, ok := newVars[v.Name]
		name := "variable." + v.Name
		switch {
		case !ok:
			out = append(out, Change{Name: name, Change: "removed", Old: hideVar(v), Sensitive: v.Sensitive})
		case v.Sensitive || nv.Sensitive:
			if v.Sensitive != nv.Sensitive || !sameSecretVar(o, v, n, nv) {
				out = append(out, Change{Name: name, Change: "changed", Old: hideVar(v), New: hideVar(nv), Sensitive: true})
			}
		case v.Value != nv.Value:
			out = append(out, Change{Name: name, Change: "changed", Old: v.Value, New: nv.Value})
		}
	}
	for _, v := range n.Variables {
		if !oldVars[v.Name] {
			out = append(out, Change{Name: "variable." + v.Name, Change: "added", New: hideVar(v), Sensitive: v.Sensitive})
		}
	}
	return out
}

func hideVar(v *dsl.Variable) string {
	if v.Sensitive {
		return "(sensitive)"
	}
	return v.Value
}

// diffAttrs compares attribute lists by name: the old order for removed
// and changed ones, then the added ones in the new order. A sensitive
// attribute shown as "(sensitive)" on both sides is compared by the
// fingerprints of the specs' fields (see fingerprints), never by value.
func diffAttrs(o, n []dsl.Attribute, oSpec, nSpec dsl.Spec) []Change {
	var out []Change
	newByName := map[string]dsl.Attribute{}
	for _, a := range n {
		newByName[a.Name] = a
	}
	oldNames := map[string]bool{}
	for _, a := range o {
		oldNames[a.Name] = true
		b, ok := newByName[a.Name]
		switch {
		case !ok:
			out = append(out, Change{Name: a.Name, Change: "removed", Old: a.Value, Sensitive: a.Sensitive})
		case a.Sensitive || b.Sensitive:
			if a.Value != b.Value || a.Sensitive != b.Sensitive || !sameSecret(a.Name, oSpec, nSpec) {
				out = append(out, Change{Name: a.Name, Change: "changed", Old: hideIf(a), New: hideIf(b), Sensitive: true})
			}
		case a.Value != b.Value:
			out = append(out, Change{Name: a.Name, Change: "changed", Old: a.Value, New: b.Value})
		}
	}
	for _, b := range n {
		if !oldNames[b.Name] {
			out = append(out, Change{Name: b.Name, Change: "added", New: b.Value, Sensitive: b.Sensitive})
		}
	}
	return out
}

// hideIf is an attribute's value as a diff may show it.
func hideIf(a dsl.Attribute) string {
	if a.Sensitive {
		return "(sensitive)"
	}
	return a.Value
}

func withTimeout(s ReviewStep) []dsl.Attribute {
	if s.Timeout == "" {
		return s.Attributes
	}
	return append(slices.Clip(s.Attributes), dsl.Attribute{Name: "timeout", Value: s.Timeout})
}

// before maps each step of r that other also has to the sorted list of
// such steps in earlier waves, joined.
func before(r *Review, other map[string]int) map[string]string {
	out := map[string]string{}
	var earlier []string
	for _, w := range r.Waves {
		sorted := slices.Clone(earlier)
		slices.Sort(sorted)
		key := strings.Join(sorted, "\n")
		for _, s := range w {
			out[s.Address] = key
		}
		for _, s := range w {
			if _, ok := other[s.Address]; ok {
				earlier = append(earlier, s.Address)
			}
		}
	}
	return out
}

func flatten(r *Review) []ReviewStep {
	var out []ReviewStep
	for _, w := range r.Waves {
		out = append(out, w...)
	}
	return out
}

func positions(steps []ReviewStep) map[string]int {
	out := map[string]int{}
	for i, s := range steps {
		out[s.Address] = i
	}
	return out
}

func specs(p *dsl.Plan) map[string]dsl.Spec {
	out := map[string]dsl.Spec{}
	for _, s := range p.Steps {
		out[s.Addr] = s.Spec
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// WriteDiff writes the comparison in the given format.
func WriteDiff(w io.Writer, d *Diff, format string) error {
	switch format {
	case "text":
		return diffText(w, d)
	case "markdown":
		return diffMarkdown(w, d)
	case "json":
		return JSON(w, d)
	}
	return fmt.Errorf("unknown diff format %q: use text, markdown or json", format)
}

// summary is the one-line count of what differs.
func (d *Diff) summary() string {
	out := fmt.Sprintf("Steps: %d added, %d removed, %d changed", len(d.Added), len(d.Removed), len(d.Changed))
	if len(d.Plan) > 0 {
		out += "; " + plural(len(d.Plan), "plan setting", "plan settings") + " changed"
	}
	return out
}

// changeText is old → new as text: a sensitive change never shows a value.
func changeText(c Change) string {
	switch {
	case c.Sensitive && c.Old == c.New:
		return "(sensitive) changed"
	case c.Change == "added":
		return "+ " + c.New
	case c.Change == "removed":
		return "- " + c.Old
	}
	return c.Old + " → " + c.New
}

func diffText(w io.Writer, d *Diff) error {
	var b strings.Builder
	if d.Empty() {
		b.WriteString("No differences.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "Diff: %s → %s\n  %s\n", d.Old, d.New, d.summary())
	if len(d.Plan) > 0 {
		b.WriteString("\nPlan:\n")
		writeChanges(&b, "  ", d.Plan)
	}
	if len(d.Removed) > 0 {
		b.WriteString("\nRemoved:\n")
		for _, s := range d.Removed {
			fmt.Fprintf(&b, "  - %s  (%s, was #%d)\n", s.Address, s.Type, s.Position)
		}
	}
	if len(d.Added) > 0 {
		b.WriteString("\nAdded:\n")
		for _, s := range d.Added {
			same := ""
			if s.SameAs != "" {
				same = "; same as " + s.SameAs
			}
			fmt.Fprintf(&b, "  + %s  (%s, #%d%s)\n", s.Address, s.Type, s.Position, same)
		}
	}
	if len(d.Changed) > 0 {
		b.WriteString("\nChanged:\n")
		for _, c := range d.Changed {
			fmt.Fprintf(&b, "  ~ %s\n", c.Address)
			var lines []Change
			if c.Moved != nil {
				lines = append(lines, Change{Name: "moved", Old: fmt.Sprintf("#%d", c.Moved.Old), New: fmt.Sprintf("#%d in apply order", c.Moved.New)})
			}
			if c.After != nil {
				lines = append(lines, Change{Name: "after", Old: listOrNone(c.After.Old), New: listOrNone(c.After.New)})
			}
			writeChanges(&b, "      ", append(lines, c.Attributes...))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeChanges(b *strings.Builder, indent string, cs []Change) {
	width := 0
	for _, c := range cs {
		width = max(width, len(c.Name))
	}
	for _, c := range cs {
		fmt.Fprintf(b, "%s%-*s  %s\n", indent, width, c.Name, changeText(c))
	}
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(nothing)"
	}
	return strings.Join(l, ", ")
}

// mdCell is a table cell: code, pipes escaped, or empty.
func mdCell(s string) string {
	if s == "" {
		return ""
	}
	return mdCode(s)
}

func diffMarkdown(w io.Writer, d *Diff) error {
	var b strings.Builder
	if d.Empty() {
		fmt.Fprintf(&b, "### Plan diff %s → %s\n\nNo differences.\n", mdCode(d.Old), mdCode(d.New))
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "### Plan diff %s → %s\n\n%s.\n\n", mdCode(d.Old), mdCode(d.New), d.summary())
	b.WriteString("| step | change | attribute | before | after |\n|---|---|---|---|---|\n")
	row := func(step, change, attr, before, after string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", step, change, attr, before, after)
	}
	// A sensitive change shows no value on either side.
	cell := func(c Change, v string, after bool) string {
		switch {
		case c.Sensitive && v == "":
			return ""
		case c.Sensitive && after && c.Old == c.New:
			return "(sensitive) changed"
		case c.Sensitive:
			return "(sensitive)"
		}
		return mdCell(v)
	}
	for _, c := range d.Plan {
		row("*(plan)*", c.Change, mdCode(c.Name), cell(c, c.Old, false), cell(c, c.New, true))
	}
	for _, s := range d.Removed {
		row(mdCode(s.Address), "removed", "", fmt.Sprintf("#%d %s", s.Position, s.Type), "")
	}
	for _, s := range d.Added {
		same := ""
		if s.SameAs != "" {
			same = ", same as " + mdCode(s.SameAs)
		}
		row(mdCode(s.Address), "added", "", "", fmt.Sprintf("#%d %s%s", s.Position, s.Type, same))
	}
	for _, c := range d.Changed {
		if c.Moved != nil {
			row(mdCode(c.Address), "moved", "", fmt.Sprintf("#%d", c.Moved.Old), fmt.Sprintf("#%d", c.Moved.New))
		}
		if c.After != nil {
			row(mdCode(c.Address), "after", "", mdCell(strings.Join(c.After.Old, ", ")), mdCell(strings.Join(c.After.New, ", ")))
		}
		for _, a := range c.Attributes {
			row(mdCode(c.Address), a.Change, mdCode(a.Name), cell(a, a.Old, false), cell(a, a.New, true))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
