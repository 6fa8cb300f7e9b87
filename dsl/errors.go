// This file holds RangeError: a run-time error (preflight, a step, its undo)
// that knows which part of the plan it is about, so `plan apply` can print
// it the way `plan validate` prints a diagnostic, with file:line and snippet.
package dsl

import (
	"errors"

	"github.com/hashicorp/hcl/v2"
)

// RangeError is an error about a place in the plan. Step types wrap what
// they return with At; renderers find it with Diagnostics, whatever wraps
// it on the way up (fmt.Errorf("%w"), errors.Join).
type RangeError struct {
	// Summary is the diagnostic's one-line summary, e.g. "Container not found".
	Summary string
	// Subject is the range the error is about: an attribute's value or a
	// block's header.
	Subject hcl.Range
	// Err is the cause; its text becomes the diagnostic's detail.
	Err error
}

// At wraps err with the plan range it is about. A nil err stays nil, and an
// err that already carries a range keeps its own (the innermost is the most
// precise).
func At(err error, summary string, subject hcl.Range) error {
	if err == nil {
		return nil
	}
	var re *RangeError
	if errors.As(err, &re) {
		return err
	}
	return &RangeError{Summary: summary, Subject: subject, Err: err}
}

// Error returns the cause's text; the range is for renderers.
func (e *RangeError) Error() string { return e.Err.Error() }

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *RangeError) Unwrap() error { return e.Err }

// Diagnostic renders the error as an HCL error diagnostic.
func (e *RangeError) Diagnostic() *hcl.Diagnostic {
	subj := e.Subject
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: e.Summary, Detail: e.Err.Error(), Subject: &subj}
}

// Diagnostics returns one diagnostic per RangeError found in err's tree
// (errors.Join and %w chains are walked), and false when err holds none: the
// caller then prints err as plain text.
func Diagnostics(err error) (hcl.Diagnostics, bool) {
	var out hcl.Diagnostics
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if re, ok := e.(*RangeError); ok {
			out = append(out, re.Diagnostic())
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out, len(out) > 0
}

// invalidName is the error for a block label that is not an identifier:
// names end up in addresses and references (rollout.NAME), so they follow
// HCL's identifier rules. how says where the name is used (", so it can be
// referenced as …"), or is empty.
func invalidName(kind, how string, at hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + kind + " name",
		Detail:   "A " + kind + " name must start with a letter or underscore and may contain only letters, digits, underscores and dashes" + how + ".",
		Subject:  at.Ptr(),
	}
}
