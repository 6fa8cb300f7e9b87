// This file holds the errors apply returns when it changed nothing:
// preflight's problems (each kept with the plan range it is about, so it
// renders with a snippet) and an unfinished earlier apply.
package runner

import (
	"fmt"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// PreflightError lists everything preflight found; nothing was changed.
type PreflightError struct{ Problems []error }

// Error lists every problem preflight found, one per line, so a plan can
// be fixed in one go.
func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preflight found %d problem(s); nothing was changed:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	return b.String()
}

// Unwrap exposes every problem, so dsl.Diagnostics finds their ranges.
func (e *PreflightError) Unwrap() []error { return e.Problems }

// newPreflightError keeps every problem, each with a plan range: a problem
// of one step that carries no range of its own gets the step's block.
// (Preflight names the step first: "ADDR: problem".)
func newPreflightError(p *dsl.Plan, errs []error) *PreflightError {
	out := make([]error, len(errs))
	for k, err := range errs {
		out[k] = err
		if _, ok := dsl.Diagnostics(err); ok {
			continue
		}
		var best *dsl.Step
		for _, s := range p.Steps {
			if strings.HasPrefix(err.Error(), s.Addr+": ") && (best == nil || len(s.Addr) > len(best.Addr)) {
				best = s
			}
		}
		if best != nil {
			out[k] = dsl.At(err, "Preflight: "+best.Addr+" cannot run", best.DeclRange)
		}
	}
	return &PreflightError{Problems: out}
}

// UnfinishedError says an earlier apply left changes behind, or committed
// and did not finish.
type UnfinishedError struct {
	Journal string
	Summary executor.Summary
	Holder  executor.LockInfo
}

// Error names the unfinished apply (id, pid, host, time), what it left in
// place, and that `plan rollback` undoes it (or, after its commit,
// finishes it).
func (e *UnfinishedError) Error() string {
	s := e.Summary
	who := executor.LockInfo{ID: s.ApplyID, PID: s.PID, Host: s.Host, Started: s.Started}
	if e.Holder.ID == s.ApplyID {
		who = e.Holder
	}
	if s.NeedsFinish() {
		return fmt.Sprintf("an unfinished apply exists: %s committed (every step was done) and stopped before removing what it kept for rollback. Run `plan rollback` on this plan to finish it: it completes the apply, nothing is undone (journal: %s)",
			who, e.Journal)
	}
	left := "it may have left changes in place"
	if l := s.Left(); len(l) > 0 {
		left = "it left changes in place: " + strings.Join(l, ", ")
	}
	state := "did not finish (the process was killed or died)"
	if s.Finished {
		state = "ended " + s.Result
	}
	return fmt.Sprintf("an unfinished apply exists: %s %s; %s. Run `plan rollback` on this plan to undo them first (journal: %s)",
		who, state, left, e.Journal)
}
