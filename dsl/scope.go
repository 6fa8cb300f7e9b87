// This file holds the evaluation scope: what an expression may refer to at
// each stage of decoding, checked before evaluation, with suggestions.
package dsl

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// sensitiveMark marks cty values derived from a sensitive variable. cty
// carries marks through every operation and function, so a value built from
// a secret stays flagged wherever it ends up.
const sensitiveMark = "sensitive"

// poisonMark marks the unknown value that stands in for one that could not
// be computed: an error already reported (an undeclared name, a failed
// function call, a variable without a value) or a reference cycle between
// steps (reported by the graph check, with every step of it named). cty
// carries marks through every operation, so a value derived from a poisoned
// one is recognised and not reported again: one mistake, one diagnostic.
type poisonMark struct{}

// poisoned returns the stand-in for a value that could not be computed.
func poisoned() cty.Value { return cty.DynamicVal.Mark(poisonMark{}) }

func hasMark(marks cty.ValueMarks, m any) bool {
	_, ok := marks[m]
	return ok
}

// stage is how far a Load has got. A block may only refer to what earlier
// stages have given a value, so that no expression ever sees a value that
// is not ready yet (a step that is not expanded, an nginx block not decoded).
type stage int

const (
	// stageHeader: the plan {} and variable {} blocks, literals only.
	stageHeader stage = iota
	// stageLocals: locals, which may use variables and other locals.
	stageLocals
	// stageDocker and stageNginx: those blocks, in that order.
	stageDocker
	stageNginx
	// stageForEach: the for_each of every step; nothing about steps yet.
	stageForEach
	// stageBodies: step and rollout bodies, which may refer to anything.
	stageBodies
)

// notReady reports a reference to something the current stage cannot see,
// or returns nil.
func (l *loader) notReady(root string, rng hcl.Range) hcl.Diagnostics {
	var summary, detail string
	switch {
	case l.stage == stageHeader && (root == "var" || root == "local" || root == "nginx" || root == "docker" || root == "step"):
		summary = "References not allowed here"
		detail = "The plan {} and variable {} blocks are read first, before anything has a value: use literal values (and functions of them) only."
	case l.stage == stageLocals && (root == "nginx" || root == "docker" || root == "step"):
		summary = "Reference not allowed in locals"
		detail = fmt.Sprintf("Locals may refer to variables, other locals and functions only: %s blocks are read after locals. Write the expression where it is needed instead.", root)
	case l.stage == stageDocker && (root == "nginx" || root == "docker" || root == "step"):
		summary = "Reference not allowed in a docker block"
		detail = "A docker block may refer to variables, locals and functions only."
	case l.stage == stageNginx && (root == "nginx" || root == "step"):
		summary = "Reference not allowed in an nginx block"
		detail = "An nginx block may refer to variables, locals, functions and docker blocks (engine = docker.NAME), not to other nginx blocks or steps."
	case l.stage == stageForEach && root == "step":
		summary = "Reference to a step in for_each"
		detail = "for_each is expanded before any step exists, so it cannot depend on a step. Use a variable or a local that both steps share."
	default:
		return nil
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}}
}

// scope is what an expression may refer to at one point of a plan. Child
// scopes add each.* (for_each) or target (rollout) to their parent's names.
type scope struct {
	parent *scope
	loader *loader

	each   *cty.Value // object{key, value}, inside a for_each step
	target *cty.Value // inside a rollout
	// rollout names the rollout whose depends_on is read in this scope,
	// where target is not bound: the list holds for the whole rollout.
	rollout string
	// gate names the rollout whose gate phase is evaluated in this scope:
	// a gate judges a whole batch, so target is not bound either.
	gate string
}

// roots lists the names an expression can start with, for suggestions.
var roots = []string{"var", "local", "step", "nginx", "docker", "each", "target"}

func (s *scope) child() *scope { return &scope{parent: s, loader: s.loader} }

func (s *scope) lookupEach() *cty.Value {
	for c := s; c != nil; c = c.parent {
		if c.each != nil {
			return c.each
		}
	}
	return nil
}

func (s *scope) lookupTarget() *cty.Value {
	for c := s; c != nil; c = c.parent {
		if c.target != nil {
			return c.target
		}
	}
	return nil
}

// checkRefs validates every reference in expr before it is evaluated, so
// that a typo gets a diagnostic that names what is declared and suggests the
// closest name, instead of HCL's generic "Unknown variable".
func (s *scope) checkRefs(expr hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tr := range expr.Variables() {
		diags = append(diags, s.checkTraversal(tr)...)
	}
	return diags
}

func attrName(tr hcl.Traversal, i int) (string, hcl.Range, bool) {
	if len(tr) <= i {
		return "", hcl.Range{}, false
	}
	switch t := tr[i].(type) {
	case hcl.TraverseAttr:
		return t.Name, t.SrcRange, true
	case hcl.TraverseIndex:
		if t.Key.Type() == cty.String && t.Key.IsKnown() && !t.Key.IsNull() {
			return t.Key.AsString(), t.SrcRange, true
		}
	}
	return "", tr[i].SourceRange(), false
}

func (s *scope) checkTraversal(tr hcl.Traversal) hcl.Diagnostics {
	l := s.loader
	root := tr.RootName()
	rng := tr.SourceRange()
	if d := l.notReady(root, rng); d != nil {
		return d
	}
	incomplete := func(form string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   fmt.Sprintf("A reference to %s must name one, as %s.", root, form),
			Subject:  rng.Ptr(),
		}}
	}
	undeclared := func(kind, name string, nameRng hcl.Range, declared []string, how string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared " + kind,
			Detail:   fmt.Sprintf("No %s named %q is declared.%s %s", kind, name, didYouMean(name, declared), how),
			Subject:  nameRng.Ptr(),
			Context:  rng.Ptr(),
		}}
	}
	switch root {
	case "var":
		name, nr, ok := attrName(tr, 1)
		if !ok {
			return incomplete("var.NAME")
		}
		if _, ok := l.varValues[name]; !ok {
			return undeclared("input variable", name, nr, sortedKeys(l.varValues),
				fmt.Sprintf("Declare it with a variable %q {} block.", name))
		}
	case "local":
		name, nr, ok := attrName(tr, 1)
		if !ok {
			return incomplete("local.NAME")
		}
		if _, ok := l.localExprs[name]; !ok {
			return undeclared("local value", name, nr, sortedKeys(l.localExprs),
				fmt.Sprintf("Define it in a locals {} block: %s = ...", name))
		}
	case "nginx":
		name, nr, ok := attrName(tr, 1)
		if !ok {
			return incomplete("nginx.NAME")
		}
		if _, ok := l.nginxByName[name]; !ok {
			return undeclared("nginx", name, nr, sortedKeys(l.nginxByName),
				fmt.Sprintf("Declare it with an nginx %q {} block.", name))
		}
	case "docker":
		name, nr, ok := attrName(tr, 1)
		if !ok {
			return incomplete("docker.NAME")
		}
		if _, ok := l.dockerByName[name]; !ok {
			return undeclared("docker", name, nr, sortedKeys(l.dockerByName),
				fmt.Sprintf("Declare it with a docker %q {} block.", name))
		}
	case "step":
		typ, tr1, ok := attrName(tr, 1)
		if !ok {
			return incomplete("step.TYPE.NAME")
		}
		name, nr, ok := attrName(tr, 2)
		if !ok {
			return incomplete("step.TYPE.NAME")
		}
		if _, ok := l.stepBlocks[typ+"."+name]; !ok {
			if _, known := l.reg.Lookup(typ); !known {
				return undeclared("step type", typ, tr1, l.writableTypes(), "")
			}
			var names []string
			for k, b := range l.stepBlocks {
				if b.typ == typ {
					names = append(names, k[len(typ)+1:])
				}
			}
			sort.Strings(names)
			return undeclared("step", "step."+typ+"."+name, nr, prefixAll("step."+typ+".", names),
				fmt.Sprintf("Declare it with a step %q %q {} block.", typ, name))
		}
	case "each":
		if s.lookupEach() == nil {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  `Reference to "each" outside for_each`,
				Detail:   "each.key and each.value exist only inside a step that sets for_each. Add for_each to this step, or use a literal value.",
				Subject:  rng.Ptr(),
			}}
		}
		if name, nr, ok := attrName(tr, 1); !ok || (name != "key" && name != "value") {
			if len(tr) < 2 {
				nr = rng
			}
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid each attribute",
				Detail:   "each has two attributes: each.key and each.value.",
				Subject:  nr.Ptr(),
			}}
		}
	case "target":
		if s.lookupTarget() == nil && s.rollout != "" {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  `Reference to "target" in a rollout's depends_on`,
				Detail: fmt.Sprintf("depends_on of rollout %q holds for the rollout as a whole: its first batch waits for every step listed before it starts, so no target is bound yet. List the steps themselves, such as [step.deploy.migrations]; for a step per target, write it as a for_each step over the same targets and have it depend on rollout.%s[each.key].",
					s.rollout, s.rollout),
				Subject: rng.Ptr(),
			}}
		}
		if s.lookupTarget() == nil && s.gate != "" {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  `Reference to "target" in a rollout's gate`,
				Detail: fmt.Sprintf("The gate of rollout %q runs once per batch, after every target of the batch is restored, so no target is bound. Point url at the load balancer that serves all of them, such as \"http://127.0.0.1:8080/\".",
					s.gate),
				Subject: rng.Ptr(),
			}}
		}
		if s.lookupTarget() == nil {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  `Reference to "target" outside a rollout`,
				Detail:   "target is bound to each element of targets, inside a rollout block only.",
				Subject:  rng.Ptr(),
			}}
		}
	default:
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown name",
			Detail: fmt.Sprintf("There is no %q in a plan.%s Expressions can refer to var.NAME, local.NAME, step.TYPE.NAME, nginx.NAME, docker.NAME, and each.key/each.value (for_each) or target (rollout).",
				root, didYouMean(root, roots)),
			Subject: tr[0].SourceRange().Ptr(),
		}}
	}
	return nil
}

// evalContext builds the HCL evaluation context for expr, holding only the
// names expr refers to. Building the whole step table for every expression
// would make decoding quadratic in the number of steps.
func (s *scope) evalContext(expr hcl.Expression) *hcl.EvalContext {
	l := s.loader
	named := map[string]map[string]cty.Value{}    // root -> name -> value
	stepVals := map[string]map[string]cty.Value{} // type -> name -> value
	vars := map[string]cty.Value{}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		switch root {
		case "var", "local", "nginx", "docker":
			name, _, ok := attrName(tr, 1)
			if !ok {
				continue
			}
			var v cty.Value
			switch root {
			case "var":
				v = l.varValues[name]
			case "local":
				v = l.localValue(name)
			case "nginx":
				v = l.nginxByName[name].value()
			case "docker":
				v = l.dockerByName[name].value()
			}
			if named[root] == nil {
				named[root] = map[string]cty.Value{}
			}
			named[root][name] = v
		case "step":
			typ, _, ok1 := attrName(tr, 1)
			name, _, ok2 := attrName(tr, 2)
			if !ok1 || !ok2 {
				continue
			}
			if b := l.stepBlocks[typ+"."+name]; b != nil {
				if stepVals[typ] == nil {
					stepVals[typ] = map[string]cty.Value{}
				}
				stepVals[typ][name] = b.value()
			}
		case "each":
			if e := s.lookupEach(); e != nil {
				vars["each"] = *e
			}
		case "target":
			if t := s.lookupTarget(); t != nil {
				vars["target"] = *t
			}
		}
	}
	for root, m := range named {
		vars[root] = cty.ObjectVal(m)
	}
	if len(stepVals) > 0 {
		m := map[string]cty.Value{}
		for typ, names := range stepVals {
			m[typ] = cty.ObjectVal(names)
		}
		vars["step"] = cty.ObjectVal(m)
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions}
}

// eval checks expr's references, then evaluates it. On a reference error it
// returns a poisoned unknown so that callers report the reference problem once,
// not a cascade of evaluation errors.
func (s *scope) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	if diags := s.checkRefs(expr); diags.HasErrors() {
		return poisoned(), diags
	}
	ctx := s.evalContext(expr)
	v, diags := expr.Value(ctx)
	// A for expression over an unknown collection (and a few other forms)
	// returns an unknown without its marks: if any input was poisoned,
	// the unknown comes from a problem reported already.
	if !diags.HasErrors() && !v.IsWhollyKnown() && !v.HasMark(poisonMark{}) {
		for _, in := range ctx.Variables {
			if _, marks := in.UnmarkDeep(); hasMark(marks, poisonMark{}) {
				return v.Mark(poisonMark{}), diags
			}
		}
	}
	return v, diags
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func prefixAll(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
