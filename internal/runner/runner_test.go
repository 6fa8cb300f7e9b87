package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/steps"

	"github.com/hashicorp/hcl/v2"
	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// writeJournal writes entries as the last journal of a state folder.
func writeJournal(t *testing.T, entries ...executor.Entry) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), executor.StateDir)
	j, err := executor.CreateJournal(dir, "20260101T000000Z-abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, e := range entries {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var begin = executor.Entry{Kind: executor.KindBegin, ApplyID: "20260101T000000Z-abc", Host: "h", PID: 1}

// A journal entry of a step type this binary does not know is a failed
// undo, never "undone"; the rollback is incomplete and says so.
func TestRollbackOfUnknownTypeFails(t *testing.T) {
	dir := writeJournal(t, begin,
		executor.Entry{Kind: executor.KindIntent, Step: "step.frob.a", Type: "frobnicate"},
		executor.Entry{Kind: executor.KindDone, Step: "step.frob.a", Type: "frobnicate", Record: executor.Record(`{"x":1}`)})
	var events []string
	res, err := Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(),
		Events: func(e executor.Event) { events = append(events, e.Step+" "+string(e.Status)) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Undone) != 0 || res.Failed["step.frob.a"] == nil || !strings.Contains(res.Failed["step.frob.a"].Error(), `step type "frobnicate" is unknown to this binary`) || res.Complete() {
		t.Fatalf("%+v", res)
	}
	if !slices.Contains(events, "step.frob.a rollback failed") {
		t.Errorf("events %v: want the failure reported as progress", events)
	}
	path, _ := executor.LastJournal(dir)
	entries, _ := executor.ReadJournal(path)
	if s := executor.Summarize(entries); s.Result != "failed, rollback incomplete" || !s.NeedsRollback() {
		t.Errorf("journal says %+v", s)
	}
}

// After a commit, rollback finishes the apply (rolls forward) and never
// undoes it; the journal then says applied.
func TestRollbackAfterCommitRollsForward(t *testing.T) {
	dir := writeJournal(t, begin,
		executor.Entry{Kind: executor.KindIntent, Step: "step.drain.a", Type: "drain"},
		executor.Entry{Kind: executor.KindDone, Step: "step.drain.a", Type: "drain", Record: executor.Record(`{}`)},
		executor.Entry{Kind: executor.KindCommit})
	res, err := Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || len(res.Undone) != 0 || !slices.Equal(res.Finished, []string{"step.drain.a"}) {
		t.Fatalf("%+v", res)
	}
	path, _ := executor.LastJournal(dir)
	entries, _ := executor.ReadJournal(path)
	if s := executor.Summarize(entries); s.Result != executor.ResultApplied || s.NeedsFinish() || s.NeedsRollback() {
		t.Errorf("journal says %+v", s)
	}
}

// An unreadable journal makes apply refuse, with the hint to inspect it;
// so does a committed, unfinished one (rollback finishes it).
func TestUnfinishedFailsClosed(t *testing.T) {
	dir := writeJournal(t, begin)
	path, _ := executor.LastJournal(dir)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	_, _ = f.WriteString("not json\n{\"kind\":\"end\"}\n")
	f.Close()
	_, err := unfinished(dir)
	var je *executor.JournalError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "inspect it") {
		t.Fatalf("unreadable journal: %v", err)
	}
	dir = writeJournal(t, begin, executor.Entry{Kind: executor.KindCommit})
	u, err := unfinished(dir)
	if err != nil || u == nil || !strings.Contains(u.Error(), "committed") || !strings.Contains(u.Error(), "nothing is undone") {
		t.Fatalf("committed journal: %v, %v", u, err)
	}
}

// fakeSpec holds values the way step specs do.
type fakeSpec struct {
	Container dsl.String
	Headers   map[string]dsl.String
	Env       dsl.StringMap
	Nested    *struct{ Argv dsl.StringList }
}

func (s *fakeSpec) Describe() []dsl.Attribute {
	return []dsl.Attribute{{Name: "container", Value: `"` + s.Container.Value + `"`}}
}

// Every sensitive value of every step is found, wherever the spec keeps
// it, and hidden in text; other values are left.
func TestRedactor(t *testing.T) {
	spec := &fakeSpec{
		Container: dsl.String{Value: "app2"},
		Headers:   map[string]dsl.String{"Authorization": {Value: "Bearer s3cret-token", Sensitive: true}},
		Env:       dsl.StringMap{Value: map[string]string{"DB_PASSWORD": "hunter22"}, Sensitive: true},
		Nested:    &struct{ Argv dsl.StringList }{dsl.StringList{Value: []string{"--key=k3y-value"}, Sensitive: true}},
	}
	r := NewRedactor(&dsl.Plan{Steps: []*dsl.Step{{Addr: "step.x.a", Spec: spec}}})
	got := r.String(`app2: expected header "Authorization: Bearer s3cret-token", env hunter22, argv --key=k3y-value`)
	want := `app2: expected header "Authorization: (sensitive)", env (sensitive), argv (sensitive)`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if ts := Targets(&dsl.Plan{Steps: []*dsl.Step{{Spec: spec}}, Docker: []*dsl.Docker{{ComposeProject: dsl.String{Value: "p1"}, Host: dsl.String{Value: "unix:///x.sock"}}}}); !slices.Equal(ts, []string{"container app2 in compose project p1 on unix:///x.sock"}) {
		t.Errorf("targets %v", ts)
	}
}

// A preflight problem of a step without a range of its own gets the
// step's block, so it renders with a snippet; one with a range keeps it.
func TestPreflightErrorsKeepRanges(t *testing.T) {
	decl := hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 3, Column: 1}, End: hcl.Pos{Line: 3, Column: 20}}
	own := hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 9, Column: 3}}
	p := &dsl.Plan{Steps: []*dsl.Step{{Addr: "step.deploy.app2", DeclRange: decl}, {Addr: "step.deploy.app2x"}}}
	pe := newPreflightError(p, []error{
		errors.New("step.deploy.app2: no container app2"),
		dsl.At(errors.New("step.deploy.app2: bad image"), "Image not found", own),
		errors.New("docker: the engine does not answer"),
	})
	d0, ok0 := dsl.Diagnostics(pe.Problems[0])
	d1, _ := dsl.Diagnostics(pe.Problems[1])
	_, ok2 := dsl.Diagnostics(pe.Problems[2])
	if !ok0 || d0[0].Subject.Start.Line != 3 || d1[0].Subject.Start.Line != 9 || ok2 {
		t.Fatalf("ranges: %v %v %v", d0, d1, ok2)
	}
	if all, _ := dsl.Diagnostics(pe); len(all) != 2 {
		t.Errorf("the preflight error exposes %d ranged problems, want 2", len(all))
	}
}

// Rollback locks what the apply changed (its begin entry lists it): while
// another plan's apply holds one of those targets, it refuses, naming it.
func TestRollbackLocksTheTargets(t *testing.T) {
	b := begin
	b.Targets = []string{"container app2 on the default engine"}
	dir := writeJournal(t, b, executor.Entry{Kind: executor.KindIntent, Step: "step.health_check.a", Type: "health_check"})
	locks := t.TempDir()
	held, err := executor.LockTargets(context.Background(), locks, []string{"container app2 on the default engine"}, executor.LockInfo{ID: "other"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), TargetLockDir: locks})
	var le *executor.LockError
	if !errors.As(err, &le) || le.Holder.ID != "other" || le.Target != "container app2 on the default engine" {
		t.Fatalf("rollback while another holds the target: %v", err)
	}
	held.Release()
	res, err := Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), TargetLockDir: locks})
	if err != nil || !slices.Equal(res.Unchanged, []string{"step.health_check.a"}) {
		t.Fatalf("%+v, %v", res, err)
	}
}
