// This file holds the optional capabilities of a step type: small
// interfaces a Type or its Spec implements when it has that behaviour.
// Shared code (preflight, lint, skips, the runner) asks for a capability,
// never for a concrete type, so a new step type gets the shared checks by
// declaring what it does.
package steps

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
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

// EngineUser is a Spec that runs on a Docker engine: preflight checks once
// per engine that it answers, before the steps that need it.
type EngineUser interface {
	// DockerEngine is the docker block the step names (nil: the
	// environment's engine).
	DockerEngine() *dsl.Docker
}

// Effect is what a membership change does to its server's share of the
// upstream's requests.
type Effect int

const (
	// Keeps: the server keeps serving (a new weight, a switch to another
	// container under the same name).
	Keeps Effect = iota
	// TakesOut: the server stops getting requests (drain).
	TakesOut
	// PutsBack: the server gets requests again (restore).
	PutsBack
)

// Membership is one server of one nginx upstream and what a step does to it.
type Membership struct {
	Nginx  *dsl.Nginx
	Server dsl.String
	Effect Effect
}

// MembershipChanger is a Spec that changes upstream membership. Preflight
// checks every upstream and server line such steps name, refuses drains
// that would leave an upstream with nothing to answer, and lint pairs each
// TakesOut with a PutsBack after it.
type MembershipChanger interface {
	Membership() Membership
}

// Replacement is a container a step replaces.
type Replacement struct {
	Container dsl.String
	// StartFirst: the old container keeps running next to the new one
	// until a StartFirstCompleter moves the traffic; Strategy is where the
	// plan says so.
	StartFirst bool
	Strategy   hcl.Range
}

// Replacer is a Spec that replaces a container (deploy). Lint wants it
// drained before (stop-first) or completed after (start-first); skips
// treat a drain whose replacements are all up to date as nothing to do.
type Replacer interface {
	Replaces() Replacement
}

// StartFirstCompleter is a Spec that completes a start-first replacement
// of a container (switch): lint wants such a replacement before it, and it
// runs whenever a replacement before it runs.
type StartFirstCompleter interface {
	Completes() dsl.String
}

// Fuser is a Spec that can make its change in the same action as the next
// step's, when that step waits for it alone (a restore and the next drain
// of the same nginx: one reload instead of two). It returns nil when it
// cannot fuse with next. first and second record each step's checkpoints.
type Fuser interface {
	Fuse(env *Env, next Spec, first, second func(json.RawMessage) error) executor.FusedApply
}

// TimeoutChecker is a Spec that cannot succeed within some timeouts (a
// health check needs healthy_threshold probes, interval apart): lint asks
// it about the step's timeout, with the range to point at (the timeout
// attribute, or the step's block when it uses the default).
type TimeoutChecker interface {
	CheckTimeout(timeout time.Duration, set bool, at hcl.Range) hcl.Diagnostics
}
