// Package steps holds Nonstop's step types, one file each, and the registry
// that maps a type name in a plan ("drain", "deploy", ...) to its
// implementation. A step type owns its schema, the decoding of its body,
// how it is described for review, how it runs and how it is undone.
package steps

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Type is one step type. It is the dsl.StepType the parser needs, plus what
// documentation and help output need.
type Type interface {
	dsl.StepType
	// Name is the type name used in `step "NAME" "..."`.
	Name() string
	// Summary is one line for help output.
	Summary() string
}

var types = map[string]Type{}

func register(t Type) { types[t.Name()] = t }

// Registry returns the registry of every built-in step type, for dsl.Load.
func Registry() dsl.Registry {
	r := dsl.MapRegistry{}
	for n, t := range types {
		r[n] = t
	}
	return r
}

// Types lists the built-in step types, sorted by name.
func Types() []Type {
	var out []Type
	for _, n := range Registry().Names() {
		out = append(out, types[n])
	}
	return out
}

// attrs builds a schema from attribute names; a trailing "!" marks required.
func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		req := len(n) > 0 && n[len(n)-1] == '!'
		if req {
			n = n[:len(n)-1]
		}
		out[i] = hcl.AttributeSchema{Name: n, Required: req}
	}
	return out
}

// describe is a helper for Spec.Describe: it skips unset values.
type describer []dsl.Attribute

func (d *describer) add(name, value string, set, sensitive bool) {
	if !set {
		return
	}
	if sensitive {
		value = "(sensitive)"
	}
	*d = append(*d, dsl.Attribute{Name: name, Value: value, Sensitive: sensitive})
}

func (d *describer) str(name string, s dsl.String) {
	d.add(name, dsl.FormatValue(s.Value), s.Set, s.Sensitive)
}
