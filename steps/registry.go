// Package steps holds Nonstop's step types, one file each (its schema and
// decoding) plus one for how it runs (*_run.go), and the contract they all
// implement: Type and Spec in this file, the optional capabilities in
// capabilities.go. The Registry a caller builds (Builtin) is what dsl.Load
// decodes with and what apply and rollback run with; nothing here is a
// package-level variable that registration mutates.
package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Type is one step type: everything Nonstop needs to decode, review, run
// and undo a step of it. A value that lacks any of it does not compile
// into a Registry; what is optional is a capability (capabilities.go).
type Type interface {
	// Name is the type name used in `step "NAME" "..."`.
	Name() string
	// Summary is one line for help output and docs.
	Summary() string
	// Schema describes the attributes and blocks of the step body, without
	// the meta-arguments (depends_on, for_each, timeout) that dsl removes.
	Schema() *hcl.BodySchema
	// Decode turns the body into the step's Spec, reporting every problem
	// as a diagnostic with the range of the offending token (dsl.Reader).
	Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics)
	// Undo compensates a completed step from the record its Apply
	// returned, without the plan: `plan rollback` runs from the journal
	// alone. It is idempotent (a rollback cut short is run again). A type
	// that changes nothing declares so with ChangesNothing and returns nil.
	Undo(ctx context.Context, env *Env, rec json.RawMessage, note func(string)) error
}

// Spec is a decoded step: what `plan show` describes and what apply runs.
type Spec interface {
	dsl.Spec
	// Preflight checks, without changing anything, that the step can run;
	// it returns every problem found, each wrapped with dsl.At so that it
	// points at the attribute it is about.
	Preflight(ctx context.Context, env *Env) []error
	// Apply does the step. A failed Apply leaves nothing changed, or
	// returns a record of what is left for Undo along with its error.
	// Before each change it records what it is about to change through
	// checkpoint(ctx, rec), so that a process killed mid-step is undone.
	Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error)
	// DefaultTimeout bounds the step when the plan sets no timeout.
	DefaultTimeout() time.Duration
}

// Registry maps step type names to their Types. Build one with Builtin (or
// NewRegistry and Register) and pass it to dsl.Load, NewEnv and whatever
// runs steps. It implements dsl.Registry.
type Registry struct {
	types map[string]Type
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]Type{}} }

// Builtin returns a fresh registry of every built-in step type. Callers
// may Register more types into it without affecting any other registry.
func Builtin() *Registry {
	r := NewRegistry()
	for _, t := range []Type{Drain{}, Deploy{}, HealthCheck{}, Restore{}, Switch{}, Weight{}, Gate{}, Cutover{}} {
		if err := r.Register(t); err != nil {
			panic(err) // the built-in names are distinct; a test proves it
		}
	}
	return r
}

// Register adds t under t.Name(). A name already registered is an error,
// so that one type never silently replaces another.
func (r *Registry) Register(t Type) error {
	n := t.Name()
	if n == "" {
		return fmt.Errorf("step type %T has an empty name", t)
	}
	if prev, ok := r.types[n]; ok {
		return fmt.Errorf("step type %q is registered twice (%T and %T)", n, prev, t)
	}
	r.types[n] = t
	return nil
}

// Type returns the registered type of that name.
func (r *Registry) Type(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Names implements dsl.Registry.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup implements dsl.Registry.
func (r *Registry) Lookup(name string) (dsl.StepType, bool) {
	t, ok := r.types[name]
	if !ok {
		return nil, false
	}
	return decoder{t}, true
}

// decoder is a Type as dsl sees it: dsl only knows dsl.Spec.
type decoder struct{ t Type }

func (d decoder) Schema() *hcl.BodySchema { return d.t.Schema() }

func (d decoder) Decode(body hcl.Body, dc *dsl.DecodeContext) (dsl.Spec, hcl.Diagnostics) {
	s, diags := d.t.Decode(body, dc)
	if s == nil {
		return nil, diags // not a typed nil in a dsl.Spec
	}
	return s, diags
}

// SpecOf is a step's Spec as this package runs it. Every step of a plan
// loaded with a Registry has one (Type.Decode returns a Spec); a plan
// loaded with another dsl.Registry is a programming error.
func SpecOf(s *dsl.Step) Spec {
	sp, ok := s.Spec.(Spec)
	if !ok {
		panic(fmt.Sprintf("%s: spec %T was not decoded by a steps.Registry", s.Addr, s.Spec))
	}
	return sp
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

// describer is a helper for Spec.Describe: it skips unset values.
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

// nginx names the nginx block a step changes, and its backend when that is
// not the default: a reviewer should see that a step reloads nothing.
func (d *describer) nginx(n *dsl.Nginx) {
	d.add("nginx", "nginx."+n.Name, true, false)
	if n.Mode.Value == dsl.NginxModeDynamic {
		d.add("mode", dsl.FormatValue(n.Mode.Value)+" (reload-free)", true, false)
	}
}

func (d *describer) str(name string, s dsl.String) {
	d.add(name, dsl.FormatValue(s.Value), s.Set, s.Sensitive)
}
