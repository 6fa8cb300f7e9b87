// This file finds a step's dependencies: depends_on, and every reference to
// another step in its expressions, whatever the traversal's form.
package dsl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// resolveDependencies turns depends_on lists and references to other steps
// into edges between step instances, checking that every target exists.
func (l *loader) resolveDependencies() hcl.Diagnostics {
	var diags hcl.Diagnostics
	byAddr := make(map[string]*Step, len(l.plan.Steps))
	for _, s := range l.plan.Steps {
		byAddr[s.Addr] = s
	}
	var known []string // for suggestions, built only when needed
	resolve := func(target string, rng hcl.Range) ([]string, *hcl.Diagnostic) {
		if _, ok := byAddr[target]; ok {
			return []string{target}, nil
		}
		if g, ok := l.groups[target]; ok {
			return g, nil
		}
		if known == nil {
			known = append(sortedKeys(byAddr), sortedKeys(l.groups)...)
		}
		return nil, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared step",
			Detail:   fmt.Sprintf("No step %s is declared.%s Refer to a step as step.TYPE.NAME (step.TYPE.NAME[\"KEY\"] with for_each), or to a rollout as rollout.NAME.", target, didYouMean(target, known)),
			Subject:  rng.Ptr(),
		}
	}
	// have indexes the dependencies of steps that have many, so that adding
	// one stays O(1) for a step that waits for a whole rollout of
	// thousands; a step with a few is scanned.
	have := map[*Step]map[string]bool{}
	has := func(s *Step, t string) bool {
		if set := have[s]; set != nil {
			return set[t]
		}
		for _, d := range s.DependsOn {
			if d.Addr == t {
				return true
			}
		}
		return false
	}
	add := func(s *Step, targets []string, rng hcl.Range, implicit bool) {
		for _, t := range targets {
			if (t == s.Addr && implicit) || has(s, t) {
				continue
			}
			s.DependsOn = append(s.DependsOn, Dependency{Addr: t, Range: rng, Implicit: implicit})
			if set := have[s]; set != nil {
				set[t] = true
			} else if len(s.DependsOn) > 16 {
				set = make(map[string]bool, 2*len(s.DependsOn))
				for _, d := range s.DependsOn {
					set[d.Addr] = true
				}
				have[s] = set
			}
		}
	}

	for _, key := range sortedKeys(l.stepBlocks) {
		b := l.stepBlocks[key]
		for _, in := range b.instances {
			if a, ok := b.meta.Attributes["depends_on"]; ok {
				refs, d := dependsOn(a.Expr, in.scope)
				diags = append(diags, d...)
				for _, ref := range refs {
					targets, dd := resolve(ref.addr, ref.rng)
					if dd != nil {
						diags = append(diags, dd)
						continue
					}
					add(in.step, targets, ref.rng, false)
				}
			}
			for _, ref := range implicitRefs(expressions(b.block.Body, "depends_on", "for_each"), in.scope) {
				targets, dd := resolve(ref.addr, ref.rng)
				if dd != nil {
					// An undeclared reference was already reported when
					// the expression was evaluated.
					continue
				}
				if slices.Contains(targets, in.step.Addr) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Self-referential step",
						Detail:   fmt.Sprintf("%s refers to itself. A step cannot use its own attributes: write the value, or put it in a local that the attributes share.", in.step.Addr),
						Subject:  ref.rng.Ptr(),
					})
				}
				add(in.step, targets, ref.rng, true)
			}
		}
	}
	for _, m := range l.plan.Rollouts {
		rb := l.rollouts[m.Name]
		if rb.content == nil {
			continue
		}
		var first []*Step
		for i, t := range m.Targets {
			if i >= m.BatchSize {
				break
			}
			if in := rb.steps[t]; len(in) > 0 {
				first = append(first, in[0].step)
			}
		}
		if a, ok := rb.content.Attributes["depends_on"]; ok {
			refs, d := dependsOn(a.Expr, &scope{loader: l, rollout: m.Name})
			diags = append(diags, d...)
			for _, ref := range refs {
				targets, dd := resolve(ref.addr, ref.rng)
				if dd != nil {
					diags = append(diags, dd)
					continue
				}
				for _, s := range first {
					add(s, targets, ref.rng, false)
				}
			}
		}
		// References in the rollout's own attributes (server, container,
		// targets) hold for every phase of a target: its first phase waits.
		// Only expressions that name a step at all are looked at per
		// target: targets itself may be a literal of thousands of elements.
		var shared []hcl.Expression
		for _, name := range sortedKeys(rb.content.Attributes) {
			if name == "depends_on" {
				continue
			}
			e := rb.content.Attributes[name].Expr
			for _, tr := range e.Variables() {
				if tr.RootName() == "step" {
					shared = append(shared, e)
					break
				}
			}
		}
		for _, t := range m.Targets {
			for i, in := range rb.steps[t] {
				var exprs []hcl.Expression
				if i == 0 {
					exprs = shared
				}
				if blk := rb.phases[RolloutPhases[i]]; blk != nil {
					exprs = append(exprs[:len(exprs):len(exprs)], expressions(blk.Body)...)
				}
				for _, ref := range implicitRefs(exprs, in.scope) {
					if targets, dd := resolve(ref.addr, ref.rng); dd == nil {
						add(in.step, targets, ref.rng, true)
					}
				}
			}
		}
		if blk := rb.phases[GatePhase]; blk != nil {
			exprs := expressions(blk.Body)
			for _, in := range rb.gates {
				for _, ref := range implicitRefs(exprs, in.scope) {
					if targets, dd := resolve(ref.addr, ref.rng); dd == nil {
						add(in.step, targets, ref.rng, true)
					}
				}
			}
		}
	}
	return diags
}

type stepRef struct {
	addr string
	rng  hcl.Range
}

// dependsOn reads a depends_on list. Elements are references, not values:
// step.TYPE.NAME, step.TYPE.NAME["key"], rollout.NAME, rollout.NAME["target"],
// or, inside a for_each step, step.TYPE.NAME[each.key] to pair instances.
func dependsOn(expr hcl.Expression, sc *scope) ([]stepRef, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	elems, d := hcl.ExprList(expr)
	if d.HasErrors() {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid depends_on",
			Detail:   "depends_on must be a list of steps, such as [step.drain.app2].",
			Subject:  expr.Range().Ptr(),
		}}
	}
	var out []stepRef
	for _, e := range elems {
		invalid := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid depends_on element",
			Detail:   "Each element must refer to a step, a rollout or a blue_green, such as step.drain.app2, step.deploy.app[\"app2\"], step.deploy.app[each.key], rollout.apps or blue_green.web.",
			Subject:  e.Range().Ptr(),
		}
		if tr, td := hcl.AbsTraversalForExpr(e); !td.HasErrors() {
			if r := tr.RootName(); r != "step" && r != "rollout" && r != "blue_green" {
				diags = append(diags, invalid)
				continue
			}
			out = append(out, stepRef{addr: traversalAddr(tr), rng: e.Range()})
			continue
		}
		// step.TYPE.NAME[each.key]: a static collection with a key computed
		// per instance.
		ix, ok := e.(*hclsyntax.IndexExpr)
		if !ok {
			diags = append(diags, invalid)
			continue
		}
		tr, td := hcl.AbsTraversalForExpr(ix.Collection)
		if td.HasErrors() || (tr.RootName() != "step" && tr.RootName() != "rollout") {
			diags = append(diags, invalid)
			continue
		}
		k, kd := sc.eval(ix.Key)
		diags = append(diags, kd...)
		if kd.HasErrors() {
			continue
		}
		k, marks := k.UnmarkDeep()
		if !k.IsKnown() && hasMark(marks, poisonMark{}) {
			continue // derived from a problem reported already
		}
		if k.IsNull() || !k.IsKnown() || k.Type() != cty.String {
			diags = append(diags, invalid)
			continue
		}
		out = append(out, stepRef{addr: fmt.Sprintf("%s[%q]", traversalAddr(tr), k.AsString()), rng: e.Range()})
	}
	return out, diags
}

// implicitRefs lists the steps the expressions refer to: step.TYPE.NAME
// (every instance of a for_each step), narrowed to one instance by a literal
// key (step.T.N["k"]) or by a key computed in the instance's scope
// (step.T.N[each.key]), so that paired for_each instances wait only for
// their partner.
func implicitRefs(exprs []hcl.Expression, sc *scope) []stepRef {
	var out []stepRef
	for _, e := range exprs {
		narrowed := narrowedRefs(e, sc)
		for _, tr := range e.Variables() {
			if tr.RootName() != "step" || len(tr) < 3 {
				continue
			}
			// step.T.N["k"] names an instance only when N has for_each;
			// otherwise ["k"] indexes one of N's attributes.
			n := 3
			if len(tr) > 3 && sc != nil && sc.loader.isForEach(tr) {
				if ix, ok := tr[3].(hcl.TraverseIndex); ok && ix.Key.Type() == cty.String {
					n = 4
				}
			}
			addr := traversalAddr(tr[:n])
			if a, ok := narrowed[tr.SourceRange()]; ok && len(tr) == 3 {
				addr = a
			}
			out = append(out, stepRef{addr: addr, rng: tr.SourceRange()})
		}
	}
	return out
}

// narrowedRefs finds step.TYPE.NAME[KEY] with a computed KEY in an
// expression and evaluates the key in the instance's scope. The result maps
// the range of the step.TYPE.NAME part (which is how the expression's
// Variables list it) to the instance address.
func narrowedRefs(e hcl.Expression, sc *scope) map[hcl.Range]string {
	se, ok := e.(hclsyntax.Expression)
	if !ok || sc == nil {
		return nil
	}
	var out map[hcl.Range]string
	_ = hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		ix, ok := n.(*hclsyntax.IndexExpr)
		if !ok {
			return nil
		}
		tr, d := hcl.AbsTraversalForExpr(ix.Collection)
		// Without for_each, a computed key indexes an attribute: the
		// reference is to the whole step, as implicitRefs has it.
		if d.HasErrors() || tr.RootName() != "step" || len(tr) != 3 || !sc.loader.isForEach(tr) {
			return nil
		}
		k, kd := sc.eval(ix.Key)
		if kd.HasErrors() {
			return nil
		}
		k, _ = k.UnmarkDeep()
		if !k.IsKnown() || k.IsNull() || k.Type() != cty.String {
			return nil
		}
		if out == nil {
			out = map[hcl.Range]string{}
		}
		out[ix.Collection.Range()] = fmt.Sprintf("%s[%q]", traversalAddr(tr), k.AsString())
		return nil
	})
	return out
}

// traversalAddr renders a reference the way addresses are written:
// step.deploy.app["app2"]. HCL lets every attribute be written as an index
// (step["deploy"].app, step.deploy["app"]); where the address has a name,
// a string index is rendered as that name, so that every way of writing a
// reference names the same step.
func traversalAddr(tr hcl.Traversal) string {
	var b strings.Builder
	named := func(i int) bool {
		switch tr.RootName() {
		case "step":
			return i == 1 || i == 2
		case "rollout":
			return i == 1 || i == 3
		}
		return false
	}
	for i, t := range tr {
		switch t := t.(type) {
		case hcl.TraverseRoot:
			b.WriteString(t.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + t.Name)
		case hcl.TraverseIndex:
			switch t.Key.Type() {
			case cty.String:
				if named(i) {
					b.WriteString("." + t.Key.AsString())
					break
				}
				fmt.Fprintf(&b, "[%q]", t.Key.AsString())
			case cty.Number:
				b.WriteString("[" + t.Key.AsBigFloat().Text('f', -1) + "]")
			}
		}
	}
	return b.String()
}

// isForEach reports whether a step.TYPE.NAME... traversal names a block
// that sets for_each.
func (l *loader) isForEach(tr hcl.Traversal) bool {
	typ, _, ok1 := attrName(tr, 1)
	name, _, ok2 := attrName(tr, 2)
	b := l.stepBlocks[typ+"."+name]
	return ok1 && ok2 && b != nil && b.forEach
}
