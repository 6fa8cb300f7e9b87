// This file holds what a journal says about its apply: who ran it, how it
// ended, and what is still in place, to undo (before the commit) or to
// finish (after it).
package executor

import (
	"strings"
	"time"
)

// Summary is what a journal says about its apply.
type Summary struct {
	ApplyID, Plan string
	// Host and PID ran the apply.
	Host    string
	PID     int
	Started time.Time
	// Targets are what the apply changes (its begin entry's).
	Targets []string
	// Began is false for an empty journal: its apply stopped before the
	// begin record, before any change.
	Began bool
	// Finished is false when the journal has no end entry: the process
	// died or was killed.
	Finished bool
	Result   string
	// Committed: every step was done and the commit journaled. Such an
	// apply is never undone; recovery finishes it.
	Committed bool
	// Unfinalized are, after a commit, the done steps whose finalizer has
	// not yet succeeded (old containers still kept), in completion order.
	Unfinalized []Entry
	// Outstanding are steps whose changes may still be in place, in
	// completion order: done and not undone, or failed without cleaning
	// up after themselves (their failed entry carries a record). Empty
	// after a commit.
	Outstanding []Entry
	// Interrupted are steps that started and never reported a result (the
	// process died mid-step), in start order. Each is the step's last
	// checkpoint entry, whose Record says what the step was changing, or
	// its intent entry (no Record) when it had changed nothing yet.
	Interrupted []Entry
}

// Summarize reads what a journal's entries say.
func Summarize(entries []Entry) Summary {
	var s Summary
	done := map[string]Entry{}
	var order []string
	open := map[string]Entry{}
	var started []string
	finalized := map[string]bool{}
	for _, e := range entries {
		switch e.Kind {
		case KindBegin:
			s.Began = true
			s.ApplyID, s.Plan, s.Started, s.Host, s.PID, s.Targets = e.ApplyID, e.Plan, e.Time, e.Host, e.PID, e.Targets
		case KindIntent:
			open[e.Step] = e
			started = append(started, e.Step)
		case KindCheckpoint:
			if _, ok := open[e.Step]; ok {
				open[e.Step] = e
			}
		case KindDone:
			delete(open, e.Step)
			done[e.Step] = e
			order = append(order, e.Step)
		case KindFailed:
			delete(open, e.Step)
			if len(e.Record) > 0 {
				done[e.Step] = e
				order = append(order, e.Step)
			}
		case KindCommit:
			s.Committed = true
		case KindFinalized:
			finalized[e.Step] = true
		case KindUndone:
			delete(done, e.Step)
			delete(open, e.Step)
		case KindEnd:
			s.Finished, s.Result = true, e.Result
		}
	}
	if s.Committed {
		if !s.Finished {
			for _, st := range order {
				if e, ok := done[st]; ok && !finalized[st] && len(e.Record) > 0 {
					s.Unfinalized = append(s.Unfinalized, e)
				}
			}
		}
		return s
	}
	if s.Finished && s.Result == ResultApplied {
		return s // a journal of version 1: no commit record
	}
	seen := map[string]bool{}
	for _, st := range order {
		if e, ok := done[st]; ok && !seen[st] {
			seen[st] = true
			s.Outstanding = append(s.Outstanding, e)
		}
	}
	for _, st := range started {
		if e, ok := open[st]; ok && !seen[st] {
			seen[st] = true
			s.Interrupted = append(s.Interrupted, e)
		}
	}
	return s
}

// Left names the steps whose changes may still be in place: outstanding,
// then interrupted.
func (s Summary) Left() []string {
	var out []string
	for _, e := range s.Outstanding {
		out = append(out, e.Step)
	}
	for _, e := range s.Interrupted {
		out = append(out, e.Step+" (interrupted mid-step)")
	}
	return out
}

// NeedsRollback reports whether the apply left changes that nobody undid.
// A journal without an end entry always does, unless it committed: the
// process died, and only `plan rollback` can tell (and record) that
// nothing was left.
func (s Summary) NeedsRollback() bool {
	if s.Committed || !s.Began {
		// Committed, or an empty journal: killed (or its disk full)
		// before the begin record, so before any change.
		return false
	}
	if s.Finished && (s.Result == ResultApplied || strings.HasPrefix(s.Result, "failed, nothing") || s.Result == "failed, rolled back" || s.Result == "rolled back") {
		return false
	}
	return len(s.Outstanding) > 0 || len(s.Interrupted) > 0 || !s.Finished
}

// NeedsFinish reports whether the apply committed and its process died
// before the end: recovery finishes it (Finish), it never undoes it.
func (s Summary) NeedsFinish() bool { return s.Committed && !s.Finished }
