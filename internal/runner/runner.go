// Package runner wires a decoded plan to the executor: the locks, the
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
	"os"
	"path/filepath"
	"slices"
	"sort"
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
	// LockTimeout is how long to wait for a lock another apply holds (the
	// plan's, or one of its targets'); 0 refuses at once.
	LockTimeout time.Duration
	// TargetLockDir holds the machine-wide target locks; default
	// executor.DefaultTargetLockDir().
	TargetLockDir string
	// Confirm is asked after preflight, before any change; false aborts.
	// Nil means approved (-auto-approve).
	Confirm func() bool
	// ShowChanges, when set with Confirm, is given what the apply is about
	// to change (a Result as a dry run's) just before Confirm is asked, so
	// the prompt can show it.
	ShowChanges func(*Result)
	Events      func(executor.Event)
	// RollbackContext is cancelled on a second interrupt.
	RollbackContext context.Context
	Log             zerolog.Logger
	// Redact hides sensitive values in events and the journal; nil hides
	// nothing.
	Redact *Redactor
	// AfterRecord is the journal's test hook (executor.Journal.AfterRecord).
	AfterRecord func(n int)
	// Watch, when set, is called once the steps are over and returns the
	// -watch counts for the history record (it may stop the watch).
	Watch func() []WatchCount
}

// StateDir returns where a decoded plan's state lives.
func StateDir(p *dsl.Plan, override string) string {
	return StateDirFor(p.Path, override)
}

// StateDirFor finds the state folder of a plan path without decoding the
// plan: rollback, status and unlock must work even when the plan no longer
// parses (or its variables are not at hand). It is .nonstop/ in the plan's
// folder (the folder itself when PATH is one).
func StateDirFor(path, override string) string {
	if override != "" {
		return override
	}
	dir := path
	if info, err := os.Stat(path); err != nil || !info.IsDir() {
		dir = filepath.Dir(path)
	}
	return filepath.Join(dir, executor.StateDir)
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
	// changed, no journal was written, and Outcome.Code is 0 (Outcome is
	// nil after a dry run).
	NothingToDo bool
	// DryRun marks the Result of Options.DryRun: the preflight passed and
	// Skipped says which steps a real apply would skip; nothing ran, so
	// Outcome and Journal are empty.
	DryRun bool
	// Changes says, per step of a dry run that would run, what it would
	// change against what runs now (steps.Previewer); ChangeErrors, why
	// that could not be read. Both are nil for a step that is skipped or
	// cannot preview.
	Changes      []*steps.Change
	ChangeErrors []error
	// SharedState names where the journal is kept for every runner
	// (state = nginx.NAME); Journal is then its local copy.
	SharedState string
}

// Apply runs a plan: lock the plan's state and its targets, refuse if an
// earlier apply is unfinished (or its journal unreadable), preflight,
// confirm, journal, walk, roll back on failure. Errors returned (rather
// than an Outcome) mean nothing was changed.
func Apply(ctx context.Context, p *dsl.Plan, g *executor.Graph, o Options) (res *Result, err error) {
	id := newApplyID()
	t0 := time.Now()
	host, _ := os.Hostname()
	hash := planHash(p)
	info := executor.LockInfo{ID: id, PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Plan: p.Path, PlanHash: hash}
	home, err := HomeOf(ctx, p, o.StateDir)
	if err != nil {
		return nil, dsl.At(err, "Cannot reach the plan's state", p.State.Range)
	}
	defer home.Close()
	dir := home.Dir
	shared, err := lockState(ctx, home, info, o.LockTimeout)
	if err != nil {
		return nil, sharedStateError(p, err)
	}
	defer shared.release()
	warn(ctx, home, o.Events)
	if !o.DryRun {
		// The history record is appended under the lock, once the journal
		// is closed (defers run last first).
		rec := applyRecord(p, dir, id, host, hash, t0, o.Redact)
		defer func() { recordApply(dir, shared.hold, rec, res, err, o) }()
	}
	if u, err := unfinished(dir); err != nil {
		return nil, err
	} else if u != nil {
		return nil, u
	}
	lockDir := o.TargetLockDir
	if lockDir == "" {
		lockDir = executor.DefaultTargetLockDir()
	}
	targetNames := Targets(p)
	targets, err := executor.LockTargets(ctx, lockDir, targetNames, info, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer targets.Release()
	if err := shared.hold.lockTargets(ctx, targetNames, info, o.LockTimeout); err != nil {
		return nil, err
	}

	tLock := time.Now()
	env := steps.NewEnv(o.Log, o.Steps)
	defer env.Close()
	if errs := steps.Preflight(ctx, env, p, g); len(errs) > 0 {
		return nil, newPreflightError(p, errs)
	}
	tPre := time.Now()
	skips := steps.Skips(ctx, env, g)
	if o.DryRun {
		res := dryRun(g, skips)
		res.Changes, res.ChangeErrors = previews(ctx, env, g, skips)
		return res, nil
	}
	o.Log.Debug().Dur("lock", tLock.Sub(t0)).Dur("preflight", tPre.Sub(tLock)).Dur("skips", time.Since(tPre)).Msg("apply: checked")
	events := redactEvents(o.Events, o.Redact)
	if nothingToDo(skips) {
		return nothing(g, skips, events), nil
	}
	if o.Confirm != nil && o.ShowChanges != nil {
		show := dryRun(g, skips)
		show.Changes, show.ChangeErrors = previews(ctx, env, g, skips)
		o.ShowChanges(show)
	}
	if o.Confirm != nil && !o.Confirm() {
		return nil, ErrAborted
	}

	types := map[string]string{}
	for _, s := range g.Steps {
		types[s.Addr] = s.Type
	}
	j, err := executor.CreateJournal(dir, id, types)
	if err != nil {
		return nil, err
	}
	defer func() { _ = j.Close() }()
	j.Redact, j.AfterRecord = o.Redact.String, o.AfterRecord
	shared.hold.mirror(j)
	tasks := make([]executor.Task, len(g.Steps))
	for i, s := range g.Steps {
		addr := s.Addr
		tasks[i] = &steps.Task{Env: env, Type: s.Type, Spec: steps.SpecOf(s), Skip: skips[i], Range: s.DeclRange,
			Checkpoint: func(rec json.RawMessage) error {
				return j.Append(executor.Entry{Kind: executor.KindCheckpoint, Step: addr, Record: rec})
			}}
	}
	if err := j.Append(executor.Entry{Kind: executor.KindBegin, ApplyID: id, Plan: p.Path, PlanHash: hash, Host: host, PID: os.Getpid(), Targets: targetNames}); err != nil {
		return nil, err
	}
	out := executor.Run(ctx, g, tasks, executor.Options{
		Parallelism:     o.Parallelism,
		Rollback:        p.OnFailure.Value != "stop",
		Timeout:         func(i int) time.Duration { return stepTimeout(g.Steps[i]) },
		RollbackContext: o.RollbackContext,
		Events:          events,
		Journal:         j,
	})
	res = &Result{Outcome: out, Graph: g, ApplyID: id, Journal: j.Path, Skipped: skips}
	if home.Shared != nil {
		res.SharedState = home.Shared.String()
	}
	return res, nil
}

// redactEvents hides sensitive values in every event's message.
func redactEvents(events func(executor.Event), r *Redactor) func(executor.Event) {
	if events == nil {
		return nil
	}
	return func(e executor.Event) {
		e.Message = r.String(e.Message)
		events(e)
	}
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

// dryRun is the Result of a dry run: what a real apply would skip, and
// whether it would change anything at all (a plan without steps would not).
func dryRun(g *executor.Graph, skips []string) *Result {
	return &Result{Graph: g, Skipped: skips, NothingToDo: !slices.Contains(skips, ""), DryRun: true}
}

// stepTimeout is the step's own timeout, else its type's default.
func stepTimeout(s *dsl.Step) time.Duration {
	if s.Timeout.Set {
		return s.Timeout.Value
	}
	return steps.SpecOf(s).DefaultTimeout()
}

// unfinished reads the last journal: an apply that left changes (or a
// commit not finished) is an *UnfinishedError; a journal that cannot be
// read is an error too: apply fails closed rather than act next to state
// it cannot account for.
func unfinished(dir string) (*UnfinishedError, error) {
	path, err := executor.LastJournal(dir)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, nil
	}
	entries, err := executor.ReadJournal(path)
	if err != nil {
		return nil, err
	}
	s := executor.Summarize(entries)
	if !s.NeedsRollback() && !s.NeedsFinish() {
		return nil, nil
	}
	return &UnfinishedError{Journal: path, Summary: s}, nil
}

// newApplyID makes a sortable, unique ID: UTC time to the microsecond,
// then random bits. The newest journal is the last ID in sort order, so
// two applies within one second (a kill, a rollback, a new apply) must not
// sort by their random bits.
func newApplyID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:])
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
