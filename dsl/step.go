// This file decodes step blocks: type lookup in the registry, meta-arguments,
// for_each instances, and the body handed to the step type.
package dsl

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// metaSchema holds the meta-arguments that dsl decodes for every step before
// the step type sees the rest of the body.
var metaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "depends_on"}, {Name: "for_each"}, {Name: "timeout"},
}}

// metaNames are the meta-arguments of a step, for suggestions.
var metaNames = []string{"depends_on", "for_each", "timeout"}

type stepBlock struct {
	typ, name string
	stepType  StepType
	block     *hcl.Block
	meta      *hcl.BodyContent
	remain    hcl.Body
	instances []*stepInstance
	forEach   bool
	// broken is set when for_each could not be evaluated (reported), so
	// that references to the missing instances are not reported again.
	broken bool

	val       cty.Value
	computing bool
}

type stepInstance struct {
	step  *Step
	scope *scope
}

func (l *loader) collectSteps(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		typ, name := b.Labels[0], b.Labels[1]
		st, ok := l.reg.Lookup(typ)
		if !ok {
			names := l.writableTypes()
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown step type",
				Detail:   fmt.Sprintf("There is no step type %q.%s The step types are: %s.", typ, didYouMean(typ, names), strings.Join(names, ", ")),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if typ == CutoverType {
			// A cut-over is only right between the two colours of a
			// blue_green, whose deploys and checks it waits for and whose
			// live colour it reads: written alone, it would move traffic
			// to containers nothing deployed or checked.
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "A cut-over comes from a blue_green block",
				Detail:   "The cutover step is what a blue_green block expands to after deploying and checking the idle colour; it cannot be written on its own. Write blue_green \"NAME\" { nginx = …, blue { … }, green { … }, deploy { … }, health_check { … } } instead (docs/dsl.md, blue_green).",
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, invalidName("step", ", so it can be referenced as step.TYPE.NAME", b.LabelRanges[1]))
			continue
		}
		key := typ + "." + name
		if prev, ok := l.stepBlocks[key]; ok {
			diags = append(diags, duplicate("step", fmt.Sprintf("%q %q", typ, name), prev.block.DefRange, b.DefRange))
			continue
		}
		meta, remain, d := b.Body.PartialContent(metaSchema)
		diags = append(diags, d...)
		_, hasForEach := meta.Attributes["for_each"]
		l.stepBlocks[key] = &stepBlock{typ: typ, name: name, stepType: st, block: b, meta: meta, remain: remain, forEach: hasForEach}
	}
	return diags
}

// decodeSteps expands for_each and decodes every instance with its type.
func (l *loader) decodeSteps() hcl.Diagnostics {
	var diags hcl.Diagnostics
	blocks := make([]*stepBlock, 0, len(l.stepBlocks))
	for _, b := range l.stepBlocks {
		blocks = append(blocks, b)
	}
	sort.Slice(blocks, func(i, j int) bool { return rangeLess(blocks[i].block.DefRange, blocks[j].block.DefRange) })

	// Pass 1: expand for_each for every block, so that a step may refer to
	// one declared later in the files.
	l.stage = stageForEach
	for _, b := range blocks {
		base := "step." + b.typ + "." + b.name
		root := &scope{loader: l}
		if a, ok := b.meta.Attributes["for_each"]; ok {
			keys, vals, ok, d := l.forEach(root, a.Expr)
			diags = append(diags, d...)
			b.broken = !ok
			var group []string
			for i, k := range keys {
				sc := root.child()
				ev := cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": vals[i]})
				sc.each = &ev
				addr := fmt.Sprintf("%s[%q]", base, k)
				b.instances = append(b.instances, b.newInstance(addr, k, sc))
				group = append(group, addr)
			}
			l.groups[base] = group
		} else {
			b.instances = append(b.instances, b.newInstance(base, "", root))
		}
	}
	// Pass 2: decode each instance's body with its step type.
	l.stage = stageBodies
	for _, b := range blocks {
		for _, in := range b.instances {
			dc := &DecodeContext{scope: in.scope, DefRange: b.block.DefRange, Dir: filepath.Dir(b.block.DefRange.Filename), meta: metaNames}
			spec, d := b.stepType.Decode(b.remain, dc)
			diags = append(diags, d...)
			mr := &Reader{dc: dc, Content: b.meta}
			in.step.Spec = spec
			in.step.Timeout = mr.PositiveDuration("timeout", 0)
			diags = append(diags, mr.Diags()...)
			l.plan.Steps = append(l.plan.Steps, in.step)
		}
	}
	return diags
}

func (b *stepBlock) newInstance(addr, key string, sc *scope) *stepInstance {
	return &stepInstance{scope: sc, step: &Step{
		Addr: addr, Type: b.typ, Name: b.name, Key: key,
		DeclRange: b.block.DefRange, TypeRange: b.block.LabelRanges[0],
	}}
}

// forEach evaluates a for_each expression to sorted keys and their values.
// Like Terraform, it takes a map or a set of strings: a list would tie each
// instance's identity to its position, and reordering would rename steps.
// ok is false when the expression could not be expanded: then the block
// has no instances, and references to them are not reported again.
func (l *loader) forEach(sc *scope, expr hcl.Expression) (keys []string, vals []cty.Value, ok bool, diags hcl.Diagnostics) {
	v, diags := sc.eval(expr)
	if diags.HasErrors() {
		return nil, nil, false, diags
	}
	v, marks := v.UnmarkDeep()
	if !v.IsWhollyKnown() && hasMark(marks, poisonMark{}) {
		return nil, nil, false, nil // derived from a problem reported already
	}
	bad := func(detail string) ([]string, []cty.Value, bool, hcl.Diagnostics) {
		return nil, nil, false, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid for_each argument",
			Detail:   detail,
			Subject:  expr.Range().Ptr(),
		}}
	}
	if v.IsNull() || !v.IsWhollyKnown() {
		return bad("for_each must be a map, or a set of strings, known when the plan is read.")
	}
	if hasMark(marks, sensitiveMark) {
		return bad("for_each cannot use a sensitive value: its keys become step addresses, which every output shows.")
	}
	ty := v.Type()
	switch {
	case ty.IsSetType():
		if v.LengthInt() == 0 {
			return nil, nil, true, nil // toset([]): no instances
		}
		if !ty.ElementType().Equals(cty.String) {
			return bad("A set given to for_each must hold strings.")
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				return bad("A set given to for_each cannot hold null: each element names an instance.")
			}
			keys = append(keys, e.AsString())
			vals = append(vals, e)
		}
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			keys = append(keys, k.AsString())
			vals = append(vals, e)
		}
	case ty.IsListType() || ty.IsTupleType():
		return bad("for_each takes a map or a set of strings, not a list: wrap it in toset(...) so each instance is keyed by its value rather than its position.")
	default:
		return bad(fmt.Sprintf("for_each takes a map or a set of strings; this is %s.", ty.FriendlyName()))
	}
	return keys, vals, true, nil
}

// value is what `step.TYPE.NAME` evaluates to in another step: the step's
// own attributes (or, with for_each, a map of instances to them). Computed
// on first use; a reference cycle yields an unknown value, and the graph
// check reports the cycle itself.
func (b *stepBlock) value() cty.Value {
	if b.val != cty.NilVal {
		return b.val
	}
	if b.computing {
		// A reference cycle between steps' attributes; the graph check
		// reports it with every step of it named.
		return poisoned()
	}
	if b.broken {
		return poisoned()
	}
	b.computing = true
	defer func() { b.computing = false }()
	schema := b.stepType.Schema()
	loose := &hcl.BodySchema{Blocks: schema.Blocks}
	for _, a := range schema.Attributes {
		loose.Attributes = append(loose.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	content, _, _ := b.remain.PartialContent(loose)
	obj := func(in *stepInstance) cty.Value {
		m := map[string]cty.Value{
			"address": cty.StringVal(in.step.Addr),
			"type":    cty.StringVal(b.typ),
			"name":    cty.StringVal(b.name),
		}
		if content != nil {
			for name, a := range content.Attributes {
				if _, reserved := m[name]; reserved {
					continue
				}
				v, d := in.scope.eval(a.Expr)
				if d.HasErrors() {
					v = poisoned()
				}
				m[name] = v
			}
		}
		return cty.ObjectVal(m)
	}
	if !b.forEach {
		if len(b.instances) == 0 {
			return poisoned()
		}
		b.val = obj(b.instances[0])
		return b.val
	}
	m := map[string]cty.Value{}
	for _, in := range b.instances {
		m[in.step.Key] = obj(in)
	}
	b.val = cty.ObjectVal(m)
	return b.val
}

func rangeLess(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	return a.Start.Byte < b.Start.Byte
}

// writableTypes are the step types a plan may write as `step "TYPE"`: the
// registered ones but those only a block expands to (cutover).
func (l *loader) writableTypes() []string {
	var names []string
	for _, n := range l.reg.Names() {
		if n != CutoverType {
			names = append(names, n)
		}
	}
	return names
}
