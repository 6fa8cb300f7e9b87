// This file holds `plan rollback` after a finished blue/green apply: the
// apply is done and never undone as a whole, but its cut-overs are flipped
// back (the previous colour, kept running, serves again, in one edit and
// one reload), starting no container.
package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// flippable returns the cut-overs of a journal whose apply finished
// cleanly (applied, and not flipped back since), in the order they ran.
func flippable(entries []executor.Entry, s executor.Summary) []executor.Entry {
	if !s.Finished || s.Result != executor.ResultApplied {
		return nil
	}
	var out []executor.Entry
	for _, e := range entries {
		if e.Kind == executor.KindDone && e.Type == dsl.CutoverType && len(e.Record) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// flipBack undoes the cut-overs of a finished apply, newest first, under
// the plan's lock and its targets' locks, journaling each undo and ending
// the journal "rolled back" (so that a second rollback finds nothing to
// do, and the next apply is not held back); the history records it as a
// rollback. The undo itself refuses when the previous colour's containers
// do not run.
func flipBack(ctx context.Context, dir, path string, s executor.Summary, cuts []executor.Entry, info executor.LockInfo, rec HistoryRecord, o RollbackOptions, shared *sharedHold) (*RollbackResult, error) {
	res := &RollbackResult{ApplyID: s.ApplyID, Failed: map[string]error{}}
	h, err := holdForRollback(ctx, dir, path, s, info, o, shared)
	if err != nil {
		return nil, err
	}
	defer h.release()
	res.StaleLock = h.stale
	j := h.journal
	defer func() { recordRollback(dir, path, shared, rec, &s, res, o) }()
	env := steps.NewEnv(o.Log, o.Steps)
	defer env.Close()

	changes := make([]executor.Change, len(cuts))
	for k, e := range cuts {
		changes[k] = executor.Change{Step: e.Step, Index: k, Task: flipTask{env: env}, Record: e.Record}
	}
	if o.Events != nil {
		o.Events(executor.Event{Time: time.Now(), Type: executor.EventRollback,
			Message: fmt.Sprintf("apply %s finished; flipping its %d cut-over(s) back to the previous colour", s.ApplyID, len(cuts))})
	}
	c := executor.Compensate(ctx, changes, executor.Options{Journal: j, Events: o.Events})
	for _, k := range c.Undone {
		res.Undone = append(res.Undone, changes[k].Step)
		from, to, _ := steps.CutoverFrom(changes[k].Record)
		res.Flipped = append(res.Flipped, fmt.Sprintf("%s: %s → %s", changes[k].Step, to, from))
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
		// The apply stays "applied" for the next rollback to try again.
		result = executor.ResultApplied
	}
	if err := j.Append(executor.Entry{Kind: executor.KindEnd, Result: result}); err != nil {
		res.JournalErrors = append(res.JournalErrors, err)
	}
	return res, nil
}

// flipTask undoes a cut-over of a finished apply (steps.FlipBack).
type flipTask struct{ env *steps.Env }

// Undo implements executor.Undoer.
func (f flipTask) Undo(ctx context.Context, rec executor.Record, note func(string)) error {
	return steps.FlipBack(ctx, f.env, rec, note)
}
