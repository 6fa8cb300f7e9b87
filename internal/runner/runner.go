// Package runner wires a decoded plan to the executor: the lock, the
// journal, preflight, the walk and the rollback, so that cmd/plan only
// parses flags and renders. `plan apply`, `plan rollback`, `plan status`
// and `plan unlock` are thin shells over it.
package runner

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// Options configures an apply.
type Options struct {
	// Steps are the step types the plan was loaded with.
	Steps *steps.Registry
	// StateDir holds the lock and journals; default PLANDIR/.nonstop.
	StateDir    string
	Parallelism int
	DryRun      bool
	// Confirm is asked after preflight, before any change; false aborts.
	// Nil means approved (-auto-approve).
	Confirm func() bool
	Events  func(executor.Event)
	// RollbackContext is cancelled on a second interrupt.
	RollbackContext context.Context
	Log             zerolog.Logger
}

// StateDir returns where a plan's state lives.
func StateDir(p *dsl.Plan, override string) string {
	if override != "" {
		return override
	}
	return filepath.Join(p.Dir, executor.StateDir)
}

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

// UnfinishedError says an earlier apply left changes behind.
type UnfinishedError struct {
	Journal string
	Summary executor.Summary
	Holder  executor.LockInfo
}

// Error names the unfinished apply (id, pid, host, time), what it left in
// place, and that `plan rollback` undoes it.
func (e *UnfinishedError) Error() string {
	s := e.Summary
	who := executor.LockInfo{ID: s.ApplyID, PID: s.PID, Host: s.Host, Started: s.Started}
	if e.Holder.ID == s.ApplyID {
		who = e.Holder
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

// ErrAborted is returned when the user declines the confirmation.
var ErrAborted = errors.New("apply cancelled: nothing was changed")

// Result is an apply's outcome, for rendering.
type Result struct {
	Outcome *executor.Outcome
	Graph   *executor.Graph
	ApplyID string
	Journal string
	// Skipped says, per step, why it had nothing to do ("" when it ran);
	// see steps.Skips.
	Skipped []string
	// NothingToDo is true when every step had nothing to do: nothing was
	// changed, no journal was written, and Outcome.Code is 0.
	NothingToDo bool
}

// Apply runs a plan: lock, refuse if an earlier apply is unfinished,
// preflight, confirm, journal, walk, roll back on failure. Errors returned
// (rather than an Outcome) mean nothing was changed.
func Apply(ctx context.Context, p *dsl.Plan, g *executor.Graph, o Options) (*Result, error) {
	dir := StateDir(p, o.StateDir)
	id := newApplyID()
	t0 := time.Now()
	host, _ := os.Hostname()
	hash := planHash(p)
	lock, err := executor.Acquire(dir, executor.LockInfo{ID: id, PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Plan: p.Path, PlanHash: hash})
	if err != nil {
		var le *executor.LockError
		if errors.As(err, &le) && le.Stale {
			if u := unfinished(dir); u != nil {
				u.Holder = le.Holder
				return nil, u
			}
		}
		return nil, err
	}
	defer lock.Release()
	if u := unfinished(dir); u != nil {
		return nil, u
	}

	tLock := time.Now()
	env := steps.NewEnv(o.Log, o.Steps)
	defer env.Close()
	if errs := steps.Preflight(ctx, env, p, g); len(errs) > 0 {
		return nil, &PreflightError{Problems: errs}
	}
	if o.DryRun {
		return nil, nil
	}
	tPre := time.Now()
	skips := steps.Skips(ctx, env, g)
	o.Log.Debug().Dur("lock", tLock.Sub(t0)).Dur("preflight", tPre.Sub(tLock)).Dur("skips", time.Since(tPre)).Msg("apply: checked")
	if nothingToDo(skips) {
		return nothing(g, skips, o.Events), nil
	}
	if o.Confirm != nil && !o.Confirm() {
		return nil, ErrAborted
	}

	types := map[string]string{}
	for _, s := range g.Steps {
		types[s.Addr] = s.Type
	}
	tJ := time.Now()
	j, err := executor.CreateJournal(dir, id, types)
	if err != nil {
		return nil, err
	}
	o.Log.Debug().Dur("journal", time.Since(tJ)).Msg("apply: journal created")
	defer j.Close()
	tasks := make([]executor.Task, len(g.Steps))
	for i, s := range g.Steps {
		addr := s.Addr
		tasks[i] = &steps.Task{Env: env, Type: s.Type, Spec: steps.SpecOf(s), Skip: skips[i], Range: s.DeclRange,
			Checkpoint: func(rec json.RawMessage) error {
				return j.Append(executor.Entry{Kind: executor.KindCheckpoint, Step: addr, Record: rec})
			}}
	}
	if err := j.Append(executor.Entry{Kind: executor.KindBegin, ApplyID: id, Plan: p.Path, PlanHash: hash, Host: host, PID: os.Getpid()}); err != nil {
		return nil, err
	}
	out := executor.Run(ctx, g, tasks, executor.Options{
		Parallelism:     o.Parallelism,
		Rollback:        p.OnFailure.Value != "stop",
		Timeout:         func(i int) time.Duration { return stepTimeout(g.Steps[i]) },
		RollbackContext: o.RollbackContext,
		Events:          o.Events,
		Journal:         j,
	})
	return &Result{Outcome: out, Graph: g, ApplyID: id, Journal: j.Path, Skipped: skips}, nil
}

func nothingToDo(skips []string) bool {
	for _, s := range skips {
		if s == "" {
			return false
		}
	}
	return len(skips) > 0
}

// nothing is the Result of an apply that had nothing to do; each step is
// reported skipped, with why.
func nothing(g *executor.Graph, skips []string, events func(executor.Event)) *Result {
	n := len(g.Steps)
	out := &executor.Outcome{Status: make([]executor.Status, n), Elapsed: make([]time.Duration, n), Notes: make([][]string, n),
		CauseStep: -1, UndoErrors: map[int]error{}, FinalizeErrors: map[int]error{}, Code: executor.ExitApplied}
	for i, s := range g.Steps {
		out.Status[i] = executor.Skipped
		out.Notes[i] = []string{"nothing to do: " + skips[i]}
		if events != nil {
			events(executor.Event{Time: time.Now(), Type: executor.EventStep, Step: s.Addr, Status: executor.Skipped, Message: "nothing to do: " + skips[i]})
		}
	}
	return &Result{Outcome: out, Graph: g, Skipped: skips, NothingToDo: true}
}

func stepTimeout(s *dsl.Step) time.Duration {
	if s.Timeout.Set {
		return s.Timeout.Value
	}
	if t, ok := s.Spec.(interface{ DefaultTimeout() time.Duration }); ok {
		return t.DefaultTimeout()
	}
	return 5 * time.Minute
}

func unfinished(dir string) *UnfinishedError {
	path, err := executor.LastJournal(dir)
	if err != nil || path == "" {
		return nil
	}
	entries, err := executor.ReadJournal(path)
	if err != nil {
		return nil
	}
	s := executor.Summarize(entries)
	if !s.NeedsRollback() {
		return nil
	}
	return &UnfinishedError{Journal: path, Summary: s}
}

// newApplyID makes a sortable, unique ID: UTC time, then random bits.
func newApplyID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// planHash fingerprints the plan's source files, for the lock and journal.
func planHash(p *dsl.Plan) string {
	h := sha256.New()
	names := make([]string, 0, len(p.Files))
	for n := range p.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write(p.Files[n].Bytes)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// RollbackResult is what `plan rollback` did.
type RollbackResult struct {
	ApplyID string
	// Undone are the steps undone, in the order they were.
	Undone []string
	// Unchanged are steps that were interrupted before they changed
	// anything: there was nothing to undo.
	Unchanged []string
	Failed    map[string]error
	// Left are steps not attempted because the rollback was interrupted.
	Left []string
	// Nothing is true when the last apply left nothing to undo.
	Nothing bool
	// StaleLock is the dead process whose lock this rollback took over.
	StaleLock *executor.LockInfo
}

// Rollback undoes what the last apply left in place, from its journal
// alone: each record holds everything its undo needs. Steps interrupted
// mid-way (the process died) are undone first, from their last
// checkpoint, then completed steps, newest first. A stale lock (its
// process is dead) is taken over, since finishing that process's work is
// what rollback is for. Cancelling ctx stops before the next undo; the
// steps not undone are in Left, and a later rollback finishes them.
func Rollback(ctx context.Context, dir string, reg *steps.Registry, log zerolog.Logger) (*RollbackResult, error) {
	path, err := executor.LastJournal(dir)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return &RollbackResult{Nothing: true}, nil
	}
	entries, err := executor.ReadJournal(path)
	if err != nil {
		return nil, err
	}
	s := executor.Summarize(entries)
	res := &RollbackResult{ApplyID: s.ApplyID, Failed: map[string]error{}}
	if !s.NeedsRollback() {
		res.Nothing = true
		return res, nil
	}
	host, _ := os.Hostname()
	info := executor.LockInfo{ID: newApplyID(), PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Plan: s.Plan}
	lock, err := executor.Acquire(dir, info)
	if err != nil {
		var le *executor.LockError
		if !errors.As(err, &le) || !le.Stale {
			return nil, err
		}
		if err := os.Remove(filepath.Join(dir, "lock.json")); err != nil {
			return nil, err
		}
		if lock, err = executor.Acquire(dir, info); err != nil {
			return nil, err
		}
		res.StaleLock = &le.Holder
	}
	defer lock.Release()
	j, err := executor.OpenJournal(path)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	env := steps.NewEnv(log, reg)
	defer env.Close()

	type work struct {
		e           executor.Entry
		interrupted bool
	}
	var todo []work
	for k := len(s.Interrupted) - 1; k >= 0; k-- {
		todo = append(todo, work{s.Interrupted[k], true})
	}
	for k := len(s.Outstanding) - 1; k >= 0; k-- {
		todo = append(todo, work{s.Outstanding[k], false})
	}
	ok := true
	for n, w := range todo {
		e := w.e
		if ctx.Err() != nil {
			for _, rest := range todo[n:] {
				res.Left = append(res.Left, rest.e.Step)
			}
			ok = false
			break
		}
		if w.interrupted && len(e.Record) == 0 {
			res.Unchanged = append(res.Unchanged, e.Step)
			_ = j.Append(executor.Entry{Kind: executor.KindUndone, Step: e.Step, Type: e.Type})
			continue
		}
		_ = j.Append(executor.Entry{Kind: executor.KindUndo, Step: e.Step, Type: e.Type})
		uctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if w.interrupted {
			err = steps.UndoInterrupted(uctx, env, e.Type, e.Record, func(string) {})
		} else {
			err = steps.Undo(uctx, env, e.Type, e.Record, func(string) {})
		}
		cancel()
		if err != nil {
			ok = false
			res.Failed[e.Step] = err
			_ = j.Append(executor.Entry{Kind: executor.KindUndoFailed, Step: e.Step, Type: e.Type, Error: err.Error()})
			continue
		}
		res.Undone = append(res.Undone, e.Step)
		_ = j.Append(executor.Entry{Kind: executor.KindUndone, Step: e.Step, Type: e.Type})
	}
	result := "rolled back"
	if !ok {
		result = "failed, rollback incomplete"
	}
	_ = j.Append(executor.Entry{Kind: executor.KindEnd, Result: result})
	return res, nil
}
