// This file decodes locals blocks, in dependency order, reporting cycles.
package dsl

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// collectLocals registers every local value; evaluation waits until all
// blocks are known, since a local may refer to an nginx block or another
// local declared later.
func (l *loader) collectLocals(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, name := range sortedKeys(attrs) {
			a := attrs[name]
			if prev, ok := l.localExprs[name]; ok {
				diags = append(diags, duplicate("local value", name, prev.NameRange, a.NameRange))
				continue
			}
			l.localExprs[name] = a
		}
	}
	return diags
}

// evalLocals evaluates every local, each after the locals it refers to, and
// reports a cycle between locals with every member named.
func (l *loader) evalLocals() hcl.Diagnostics {
	var diags hcl.Diagnostics
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		switch l.localState[name] {
		case 2:
			return
		case 1:
			i := 0
			for i < len(stack) && stack[i] != name {
				i++
			}
			cycle := append(append([]string{}, stack[i:]...), name)
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle between local values",
				Detail:   fmt.Sprintf("These locals refer to each other: local.%s. Break the cycle by giving one of them a value that does not depend on the others.", strings.Join(cycle, " → local.")),
				Subject:  l.localExprs[name].Expr.Range().Ptr(),
			})
			l.localVals[name] = poisoned()
			return
		}
		a := l.localExprs[name]
		l.localState[name] = 1
		stack = append(stack, name)
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "local" {
				continue
			}
			if dep, _, ok := attrName(tr, 1); ok {
				if _, declared := l.localExprs[dep]; declared {
					visit(dep)
				}
			}
		}
		stack = stack[:len(stack)-1]
		if l.localState[name] == 1 {
			v, d := (&scope{loader: l}).eval(a.Expr)
			diags = append(diags, d...)
			if d.HasErrors() {
				v = poisoned()
			}
			l.localVals[name] = v
		}
		l.localState[name] = 2
	}
	for _, name := range sortedKeys(l.localExprs) {
		visit(name)
	}
	return diags
}

func (l *loader) localValue(name string) cty.Value {
	if v, ok := l.localVals[name]; ok {
		return v
	}
	return poisoned()
}
