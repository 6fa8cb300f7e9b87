// This file holds `plan rollback`: recovery from the last journal alone.
// Before the apply's commit it undoes what is in place through
// executor.Compensate, the same code (timeouts, progress, journal records)
// as apply's own rollback; after the commit it finishes the apply
// (executor.Finish) and never undoes it. After a finished blue/green apply
// it flips the traffic back (rollback_bluegreen.go).
package runner

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// RollbackOptions configures a rollback.
type RollbackOptions struct {
	// Steps are the step types whose records the journal holds; an entry
	// of a type not among them cannot be undone (an error, never "undone").
	Steps *steps.Registry
	Log   zerolog.Logger
	// Events receives progress, as for apply.
	Events func(executor.Event)
	// LockTimeout waits for a live holder of the plan's lock, or of one of
	// its targets.
	LockTimeout time.Duration
	// TargetLockDir: see Options.
	TargetLockDir string
	// Shared is the plan's shared state (Home.Shared), nil for local
	// state. With it, the dir Rollback is given is its local copy
	// (Home.Dir), refreshed from the target under the shared lock.
	Shared executor.SharedState
}

// RollbackResult is what `plan rollback` did.
type RollbackResult struct {
	ApplyID string
	// Undone are the steps undone, in the order they were.
	Undone []string
	// Unchanged are steps that were interrupted before they changed
	// anything: there was nothing to undo.
	Unchanged []string
	// Failed are the undos (or, after a commit, the finalizers) that
	// failed, by step.
	Failed map[string]error
	// Left are steps not undone: failed, or not attempted because the
	// rollback was interrupted.
	Left []string
	// Committed is true when the apply had committed: it was finished
	// (rolled forward), not undone. Finished lists the steps finalized.
	Committed bool
	Finished  []string
	// JournalErrors are records of this rollback that could not be written.
	JournalErrors []error
	// Nothing is true when the last apply left nothing to undo.
	Nothing bool
	// StaleLock is the dead process whose lock this rollback took over.
	StaleLock *executor.LockInfo
	// Flipped says, for a finished blue/green apply, which cut-overs were
	// flipped back ("STEP: green → blue"; rollback_bluegreen.go).
	Flipped []string
}

// Complete reports whether nothing is left to do.
func (r *RollbackResult) Complete() bool { return len(r.Failed) == 0 && len(r.Left) == 0 }

// journalStep is a journal entry as the executor undoes or finalizes it:
// by its step type, from its record, without the plan.
type journalStep struct {
	env         *steps.Env
	typ         string
	interrupted bool
}

// Undo implements executor.Undoer. A step type this binary does not know
// cannot be undone: that is an error, never "undone".
func (s journalStep) Undo(ctx context.Context, rec executor.Record, note func(string)) error {
	if s.interrupted {
		return steps.UndoInterrupted(ctx, s.env, s.typ, rec, note)
	}
	return steps.Undo(ctx, s.env, s.typ, rec, note)
}

// JoinsUndo implements executor.GroupUndoer: completed drains (or
// restores) of one upstream are undone as one change, as apply's own
// rollback does, so recovering a batch after a crash costs the same
// reloads (steps.JoinsUndo).
func (s journalStep) JoinsUndo(own executor.Record, other executor.Undoer, rec executor.Record) bool {
	o, ok := other.(journalStep)
	return ok && o.env == s.env && !s.interrupted && !o.interrupted && steps.JoinsUndo(s.env, s.typ, own, o.typ, rec)
}

// UndoGroup implements executor.GroupUndoer.
func (s journalStep) UndoGroup(ctx context.Context, members []executor.Undoer, recs []executor.Record, notes []func(string)) []error {
	typs := make([]string, len(members))
	for k, m := range members {
		typs[k] = m.(journalStep).typ
	}
	return steps.UndoGroup(ctx, s.env, typs, recs, notes)
}

// Finalize implements executor.Finalizer.
func (s journalStep) Finalize(ctx context.Context, rec executor.Record) error {
	return steps.Finalize(ctx, s.env, s.typ, rec)
}

// Rollback recovers from the last apply, from its journal alone: each
// record holds everything its undo needs. Steps interrupted mid-way (the
// process died) are undone first, from their last checkpoint, then
// completed steps, newest first. An apply that committed is finished
// instead (its old containers removed), never half undone. A stale lock
// (its process is dead) is taken over, since finishing that process's work
// is what rollback is for. Cancelling ctx stops before the next undo; the
// steps not undone are in Left, and a later rollback finishes them.
func Rollback(ctx context.Context, dir string, o RollbackOptions) (*RollbackResult, error) {
	host, _ := os.Hostname()
	info := executor.LockInfo{ID: newApplyID(), PID: os.Getpid(), Host: host, Started: time.Now().UTC()}
	// Shared state is locked first: the journals are read from the
	// target only once no other runner can write them.
	var shared *sharedHold
	var sharedStale *executor.LockInfo
	if o.Shared != nil {
		h, stale, err := lockShared(ctx, o.Shared, dir, info, o.LockTimeout, true)
		if err != nil {
			return nil, err
		}
		defer h.release()
		shared, sharedStale = h, stale
	}
	path, err := executor.LastJournal(dir)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return &RollbackResult{Nothing: true, StaleLock: sharedStale}, nil
	}
	entries, err := executor.ReadJournal(path)
	if err != nil {
		return nil, err
	}
	s := executor.Summarize(entries)
	res := &RollbackResult{ApplyID: s.ApplyID, Failed: map[string]error{}, Committed: s.Committed, StaleLock: sharedStale}
	info.Plan = s.Plan
	// A rollback that acts is recorded in the history, under the lock,
	// once its journal records are written (see recordRollback).
	rec := HistoryRecord{ID: info.ID, Kind: KindRollback, Started: info.Started, User: currentUser(), Host: host}
	if cuts := flippable(entries, s); len(cuts) > 0 {
		r, err := flipBack(ctx, dir, path, s, cuts, info, rec, o, shared)
		if r != nil && r.StaleLock == nil {
			r.StaleLock = sharedStale
		}
		return r, err
	}
	if !s.NeedsRollback() && !s.NeedsFinish() {
		res.Nothing = true
		// A process killed after its journal's end still left its lock:
		// its work is done, so the lock goes.
		if _, err := executor.ReadLock(dir); shared == nil && err == nil && !executor.LockHeld(dir) {
			lock, stale, err := executor.TakeOver(ctx, dir, info, 0)
			if err != nil {
				return nil, err
			}
			res.StaleLock = stale
			if err := lock.Release(); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	h, err := holdForRollback(ctx, dir, path, s, info, o, shared)
	if err != nil {
		return nil, err
	}
	defer h.release()
	if h.stale != nil {
		res.StaleLock = h.stale
	}
	j := h.journal
	defer func() { recordRollback(dir, path, shared, rec, &s, res, o) }()
	env := steps.NewEnv(o.Log, o.Steps)
	defer env.Close()
	eo := executor.Options{Journal: j, Events: o.Events}

	if s.NeedsFinish() {
		var changes []executor.Change
		for k, e := range s.Unfinalized {
			changes = append(changes, executor.Change{Step: e.Step, Index: k, Task: journalStep{env: env, typ: e.Type}, Record: e.Record})
		}
		eo.RollbackContext = ctx
		f := executor.Finish(changes, eo)
		for _, k := range f.Finalized {
			res.Finished = append(res.Finished, changes[k].Step)
		}
		for k, err := range f.Failed {
			res.Failed[changes[k].Step] = err
		}
		res.JournalErrors = f.JournalErrors
		if err := j.Append(executor.Entry{Kind: executor.KindEnd, Result: executor.ResultApplied}); err != nil {
			res.JournalErrors = append(res.JournalErrors, err)
		}
		return res, nil
	}

	// In the order the changes were made: completed steps, then the ones
	// interrupted (the newest); Compensate undoes from the end.
	var changes []executor.Change
	for _, e := range s.Outstanding {
		changes = append(changes, executor.Change{Step: e.Step, Task: journalStep{env: env, typ: e.Type}, Record: e.Record})
	}
	for _, e := range s.Interrupted {
		changes = append(changes, executor.Change{Step: e.Step, Task: journalStep{env: env, typ: e.Type, interrupted: true}, Record: e.Record, Interrupted: true})
	}
	for k := range changes {
		changes[k].Index = k
	}
	if o.Events != nil {
		o.Events(executor.Event{Time: time.Now(), Type: executor.EventRollback, Message: fmt.Sprintf("rolling back %d steps of apply %s", len(changes), s.ApplyID)})
	}
	c := executor.Compensate(ctx, changes, eo)
	for _, k := range c.Unchanged {
		res.Unchanged = append(res.Unchanged, changes[k].Step)
	}
	for _, k := range c.Undone {
		res.Undone = append(res.Undone, changes[k].Step)
	}
	for k, err := range c.Failed {
		res.Failed[changes[k].Step] = err
	}
	for _, k := range c.Left {
		if _, failed := c.Failed[k]; !failed {
			res.Left = append(res.Left, changes[k].Step)
		}
	}
	res.JournalErrors = c.JournalErrors
	result := "rolled back"
	if !c.Complete() {
		result = "failed, rollback incomplete"
	}
	if err := j.Append(executor.Entry{Kind: executor.KindEnd, Result: result}); err != nil {
		res.JournalErrors = append(res.JournalErrors, err)
	}
	return res, nil
}

// rollbackHold is what a rollback holds while it acts: the plan's lock
// (taken over from the apply, dead or finished), the locks of what the
// apply changed (its journal says), so that no other plan changes them
// meanwhile, and the journal, open for the undos' records.
type rollbackHold struct {
	journal *executor.Journal
	stale   *executor.LockInfo
	release func()
}

// holdForRollback takes what a rollback holds (see rollbackHold), waiting
// up to o.LockTimeout for each lock; on error it holds nothing. With
// shared state (shared, already held) the local folder is not locked, and
// the journal's records go to the target too.
func holdForRollback(ctx context.Context, dir, path string, s executor.Summary, info executor.LockInfo, o RollbackOptions, shared *sharedHold) (*rollbackHold, error) {
	var lock *executor.Lock
	var stale *executor.LockInfo
	if shared == nil {
		var err error
		if lock, stale, err = executor.TakeOver(ctx, dir, info, o.LockTimeout); err != nil {
			return nil, err
		}
	}
	lockDir := o.TargetLockDir
	if lockDir == "" {
		lockDir = executor.DefaultTargetLockDir()
	}
	targets, err := executor.LockTargets(ctx, lockDir, s.Targets, info, o.LockTimeout)
	if err == nil {
		if err = shared.lockTargets(ctx, s.Targets, info, o.LockTimeout); err != nil {
			targets.Release()
		}
	}
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	j, err := executor.OpenJournal(path)
	if err != nil {
		targets.Release()
		_ = lock.Release()
		return nil, err
	}
	shared.mirror(j)
	return &rollbackHold{journal: j, stale: stale, release: func() {
		_ = j.Close()
		targets.Release()
		_ = lock.Release()
	}}, nil
}
