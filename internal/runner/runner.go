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

func (e *UnfinishedError) Error() string {
	var steps []string
	for _, o := range e.Summary.Outstanding {
		steps = append(steps, o.Step)
	}
	steps = append(steps, e.Summary.Interrupted...)
	who := fmt.Sprintf("apply %s", e.Summary.ApplyID)
	if e.Holder.ID == e.Summary.ApplyID {
		who = e.Holder.String()
	}
	return fmt.Sprintf("an unfinished apply exists: %s, started %s, left changes in place (%s). Run `plan rollback` to undo them first (journal: %s)",
		who, e.Summary.Started.Local().Format(time.RFC3339), strings.Join(steps, ", "), e.Journal)
}

// ErrAborted is returned when the user declines the confirmation.
var ErrAborted = errors.New("apply cancelled: nothing was changed")

// Result is an apply's outcome, for rendering.
type Result struct {
	Outcome *executor.Outcome
	Graph   *executor.Graph
	ApplyID string
	Journal string
}

// Apply runs a plan: lock, refuse if an earlier apply is unfinished,
// preflight, confirm, journal, walk, roll back on failure. Errors returned
// (rather than an Outcome) mean nothing was changed.
func Apply(ctx context.Context, p *dsl.Plan, g *executor.Graph, o Options) (*Result, error) {
	dir := StateDir(p, o.StateDir)
	id := newApplyID()
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

	env := steps.NewEnv(o.Log)
	defer env.Close()
	if errs := steps.Preflight(ctx, env, p); len(errs) > 0 {
		return nil, &PreflightError{Problems: errs}
	}
	if o.DryRun {
		return nil, nil
	}
	if o.Confirm != nil && !o.Confirm() {
		return nil, ErrAborted
	}

	types := map[string]string{}
	tasks := make([]executor.Task, len(g.Steps))
	for i, s := range g.Steps {
		types[s.Addr] = s.Type
		tasks[i] = &steps.Task{Env: env, Type: s.Type, Spec: s.Spec.(steps.Runnable)}
	}
	j, err := executor.CreateJournal(dir, id, types)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	if err := j.Append(executor.Entry{Kind: executor.KindBegin, ApplyID: id, Plan: p.Path, PlanHash: hash}); err != nil {
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
	return &Result{Outcome: out, Graph: g, ApplyID: id, Journal: j.Path}, nil
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
	ApplyID     string
	Undone      []string
	Failed      map[string]error
	Interrupted []string
	Nothing     bool
}

// Rollback undoes what the last apply left in place, from its journal
// alone: each record holds everything its undo needs.
func Rollback(ctx context.Context, dir string, log zerolog.Logger) (*RollbackResult, error) {
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
	res := &RollbackResult{ApplyID: s.ApplyID, Failed: map[string]error{}, Interrupted: s.Interrupted}
	if !s.NeedsRollback() {
		res.Nothing = true
		return res, nil
	}
	host, _ := os.Hostname()
	lock, err := executor.Acquire(dir, executor.LockInfo{ID: newApplyID(), PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Plan: s.Plan})
	if err != nil {
		var le *executor.LockError
		if !errors.As(err, &le) || !le.Stale || le.Holder.ID != s.ApplyID {
			return nil, err
		}
		// The dead apply's own lock: rollback is what it needs; take over.
		if err := os.Remove(filepath.Join(dir, "lock.json")); err != nil {
			return nil, err
		}
		if lock, err = executor.Acquire(dir, executor.LockInfo{ID: newApplyID(), PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Plan: s.Plan}); err != nil {
			return nil, err
		}
	}
	defer lock.Release()
	j, err := executor.OpenJournal(path)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	env := steps.NewEnv(log)
	defer env.Close()
	ok := true
	for k := len(s.Outstanding) - 1; k >= 0; k-- {
		e := s.Outstanding[k]
		_ = j.Append(executor.Entry{Kind: executor.KindUndo, Step: e.Step, Type: e.Type})
		uctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := steps.Undo(uctx, env, e.Type, e.Record, func(string) {})
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
