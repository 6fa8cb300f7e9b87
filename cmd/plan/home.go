// This file finds where a plan's state lives for the commands that work
// from the state rather than the plan (rollback, status, unlock, history):
// .nonstop/ next to the plan, or with `state = nginx.NAME` that nginx's
// container, which needs the plan (and its variables) to decode.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/runner"
)

// stateHome returns the Home of the plan at path. The plan is decoded to
// learn where its state is, but a plan that keeps local state needs none
// of it to decode: these commands still work on one that no longer does
// (a half-finished edit, missing variables). A plan that asks for shared
// state must decode, or nothing could say where its lock and journals
// are: that is an error naming why.
func (m *meta) stateHome(ctx context.Context, path, override string) (*runner.Home, error) {
	p, diags := dsl.Load(path, m.steps, dsl.Options{Vars: m.vars, VarFiles: m.varFiles, Env: os.Environ()})
	if p == nil || p.StateDecl == nil {
		return &runner.Home{Dir: stateDirFor(path, override)}, nil
	}
	if errs := diags.Errs(); len(errs) > 0 || p.State == nil {
		why := "its state block does not resolve"
		if len(errs) > 0 {
			why = errs[0].Error()
		}
		return nil, fmt.Errorf("the plan keeps its state on its target (state at %s), but it does not decode, so where that is cannot be known: %s. Fix the plan (or give its variables with -var/-var-file) and run this again", p.StateDecl, why)
	}
	return runner.HomeOf(ctx, p, override)
}

// snapshot reads the plan's state for status and history (see
// runner.Home.Snapshot); done removes what it copied.
func (m *meta) snapshot(path, override string) (*runner.Snapshot, func(), error) {
	ctx := context.Background()
	home, err := m.stateHome(ctx, path, override)
	if err != nil {
		return nil, nil, err
	}
	defer home.Close()
	return home.Snapshot(ctx)
}
