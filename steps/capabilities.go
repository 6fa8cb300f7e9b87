// This file holds the optional capabilities of a step type: small
// interfaces a Type or its Spec implements when it has that behaviour.
// Shared code (preflight, lint, skips, the runner) asks for a capability,
// never for a concrete type, so a new step type gets the shared checks by
// declaring what it does.
package steps

import (
	"context"
	"encoding/json"
)

// Recoverer is a Type whose step, cut short mid-way (its process died),
// needs more than Undo to put things back from its last checkpoint's
// record: it looks at what is there. Without it, Undo is used.
type Recoverer interface {
	Recover(ctx context.Context, env *Env, rec json.RawMessage, note func(string)) error
}

// Finalizer is a Type that cleans up after the whole apply succeeded
// (deploy removes the old container it kept for rollback).
type Finalizer interface {
	Finalize(ctx context.Context, env *Env, rec json.RawMessage) error
}

// ChangesNothing is a Spec that only observes (a health check): it has
// nothing to undo, a rollback cut short does not list it as still in
// place, and it is skipped when every step before it is.
type ChangesNothing interface {
	ChangesNothing()
}

// UpToDater is a Spec that can tell, before anything changes, that it has
// nothing to do; why says so in words, naming no sensitive value.
type UpToDater interface {
	UpToDate(ctx context.Context, env *Env) (ok bool, why string, err error)
}
