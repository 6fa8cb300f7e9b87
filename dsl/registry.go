// This file holds what dsl needs from step types (StepType, Spec) and the
// Registry through which the caller passes them in.
package dsl

import (
	"github.com/hashicorp/hcl/v2"
)

// StepType is what the dsl package needs from a step implementation: its
// schema and a decoder for its body. Step types live in package steps and are
// passed in through a Registry, so that dsl never imports Docker or nginx code.
type StepType interface {
	// Schema describes the attributes and blocks of the step body, without
	// the meta-arguments (depends_on, for_each, timeout) that dsl removes
	// first. dsl uses it to apply rollout defaults and to evaluate a step's
	// attributes for references from other steps.
	Schema() *hcl.BodySchema
	// Decode turns the remaining body into the step's typed spec. It reports
	// every problem as a diagnostic with the range of the offending token.
	Decode(body hcl.Body, dc *DecodeContext) (Spec, hcl.Diagnostics)
}

// Spec is a decoded step body. Its concrete type belongs to the step type;
// dsl only needs to render it for review.
type Spec interface {
	// Describe lists the step's resolved attributes, in a stable order, for
	// `plan show`. Sensitive values are flagged so renderers can hide them.
	Describe() []Attribute
}

// Attribute is one resolved attribute of a step, for review output.
type Attribute struct {
	Name      string `json:"name"`
	Value     string `json:"value"` // rendered for humans, e.g. `"app2:3000"`, `30s`, `{ MESSAGE = "x" }`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Registry maps step type names ("drain", "deploy", ...) to their
// implementations. The caller builds it (steps.Builtin) and passes it to
// Load: dsl holds no registry of its own.
type Registry interface {
	Lookup(name string) (StepType, bool)
	// Names lists the registered types, sorted; used for "did you mean".
	Names() []string
}
