package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Reading a journal tolerates a torn last line and nothing else.
func TestReadJournalRules(t *testing.T) {
	begin := `{"kind":"begin","apply_id":"x","version":2}` + "\n"
	intent := `{"kind":"intent","step":"a"}` + "\n"
	for _, tc := range []struct {
		name    string
		text    string
		entries int
		err     string // substring of the error; "" for none
	}{
		{"whole", begin + intent, 2, ""},
		{"empty file", "", 0, ""},
		{"torn last line", begin + intent + `{"kind":"do`, 2, ""},
		{"torn last line that decodes", begin + intent + `{"kind":"done","step":"a"}`, 2, ""},
		{"garbage in the middle", begin + "{oops\n" + intent, 0, "line 2: not a journal entry"},
		{"empty line", begin + "\n" + intent, 0, "line 2"},
		{"unknown kind", begin + `{"kind":"frobnicate"}` + "\n", 0, `line 2: unknown entry kind "frobnicate"`},
		{"no begin", intent, 0, `line 1: the first entry is "intent"`},
		{"two begins", begin + begin, 0, "line 2: a second"},
		{"newer version", `{"kind":"begin","version":99}` + "\n", 0, "written by a newer plan (journal version 99"},
		{"version 1 (no version field)", `{"kind":"begin"}` + "\n" + intent, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "j.jsonl")
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			entries, err := ReadJournal(p)
			if tc.err == "" {
				if err != nil || len(entries) != tc.entries {
					t.Fatalf("%d entries, %v; want %d, no error", len(entries), err, tc.entries)
				}
				return
			}
			var je *JournalError
			if !errors.As(err, &je) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "inspect it") {
				t.Fatalf("error %v; want a *JournalError with %q and a hint", err, tc.err)
			}
		})
	}
}

// Reopening a journal cuts its torn last line, so the next record is a
// line of its own and the journal reads back whole.
func TestOpenJournalCutsTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(p, []byte(`{"kind":"begin"}`+"\n"+`{"kind":"inte`), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Entry{Kind: KindEnd, Result: "rolled back"}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	entries, err := ReadJournal(p)
	if err != nil || len(entries) != 2 || entries[1].Kind != KindEnd {
		t.Fatalf("%+v, %v", entries, err)
	}
}

// A journal record that cannot be written stops the walk before the change
// it was to record: killed at every record in turn (the file closed right
// after record k), no step runs whose intent is not on disk, and nothing is
// finalized unless the commit is on disk.
func TestJournalWriteFailureStopsBeforeTheChange(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}}, []string{"a", "b", "c"})
	for k := 1; k <= 12; k++ {
		log := &eventLog{}
		j, err := CreateJournal(t.TempDir(), "20260101T000000Z-abc", nil)
		if err != nil {
			t.Fatal(err)
		}
		j.AfterRecord = func(n int) {
			if n == k {
				j.f.Close() // every later write fails
			}
		}
		if err := j.Append(Entry{Kind: KindBegin}); err != nil {
			t.Fatal(err)
		}
		out := Run(context.Background(), g, tasksFor(g, log, nil), Options{Rollback: true, Journal: j})
		entries, err := ReadJournal(j.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range log.evs {
			if name, ok := strings.CutPrefix(ev, "apply "); ok && !hasKind(entries, KindIntent, name) {
				t.Errorf("k=%d: %s ran without its intent on disk", k, name)
			}
			if strings.HasPrefix(ev, "finalize ") && !hasKind(entries, KindCommit, "") {
				t.Errorf("k=%d: %s without the commit on disk", k, ev)
			}
		}
		committed := hasKind(entries, KindCommit, "")
		if committed != (out.Code == ExitApplied) {
			t.Errorf("k=%d: committed %v, code %d", k, committed, out.Code)
		}
		if !committed && (out.Cause == nil || !strings.Contains(out.Cause.Error(), "journal")) {
			t.Errorf("k=%d: code %d, cause %v; want a journal failure", k, out.Code, out.Cause)
		}
	}
}

func hasKind(entries []Entry, kind, step string) bool {
	return slices.ContainsFunc(entries, func(e Entry) bool { return e.Kind == kind && (step == "" || e.Step == step) })
}

// The commit is journaled after the last step and before any finalize; a
// journal cut after it is finished, never rolled back.
func TestCommitBeforeFinalize(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	j, err := CreateJournal(t.TempDir(), "20260101T000000Z-abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Append(Entry{Kind: KindBegin})
	out := Run(context.Background(), g, tasksFor(g, &eventLog{}, nil), Options{Journal: j})
	j.Close()
	entries, err := ReadJournal(j.Path)
	if err != nil || out.Code != ExitApplied {
		t.Fatal(out.Code, err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind+" "+e.Step)
	}
	want := []string{"begin ", "intent a", "done a", "intent b", "done b", "commit ", "finalized a", "finalized b", "end "} // fakeTask records are never empty
	if !slices.Equal(kinds, want) {
		t.Fatalf("journal %v, want %v", kinds, want)
	}
	// Cut right after the commit, and after one finalize.
	for cut, left := range map[int][]string{6: {"a", "b"}, 7: {"b"}} {
		s := Summarize(entries[:cut])
		var names []string
		for _, e := range s.Unfinalized {
			names = append(names, e.Step)
		}
		if !s.Committed || !s.NeedsFinish() || s.NeedsRollback() || !slices.Equal(names, left) || len(s.Outstanding) != 0 {
			t.Errorf("cut at %d: %+v; want committed, to finish %v", cut, s, left)
		}
	}
	if s := Summarize(entries[:5]); s.Committed || !s.NeedsRollback() {
		t.Errorf("cut before the commit: %+v; want a rollback", s)
	}
}

// stubborn ignores its context: it returns only when released.
type stubborn struct {
	fakeTask
	release chan struct{}
}

func (s *stubborn) Apply(ctx context.Context, note func(string)) (Record, error) {
	s.log.add("apply " + s.name)
	<-s.release
	return nil, nil
}

// A step that ignores its context is reported stuck after its deadline
// and the grace; the walk does not wait for it, compensates the rest, and
// leaves it to `plan rollback` (its journal shows it interrupted).
func TestStuckStepIsReportedNotAwaited(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	log := &eventLog{}
	tasks := tasksFor(g, log, nil)
	release := make(chan struct{})
	defer close(release)
	tasks[1] = &stubborn{fakeTask{name: "b", log: log}, release}
	j, err := CreateJournal(t.TempDir(), "20260101T000000Z-abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Append(Entry{Kind: KindBegin})
	out := Run(context.Background(), g, tasks, Options{Rollback: true, Journal: j, Grace: 20 * time.Millisecond,
		Timeout: func(int) time.Duration { return 20 * time.Millisecond }})
	j.Close()
	if out.Status[1] != Stuck || out.Code != ExitRollbackPartial || !slices.Equal(out.Left, []int{1}) || out.Status[0] != RolledBack {
		t.Fatalf("status %v code %d left %v cause %v", out.Status, out.Code, out.Left, out.Cause)
	}
	if !strings.Contains(out.Cause.Error(), "timeout of 20ms") {
		t.Errorf("cause %v", out.Cause)
	}
	entries, _ := ReadJournal(j.Path)
	if s := Summarize(entries); len(s.Interrupted) != 1 || s.Interrupted[0].Step != "b" || !s.NeedsRollback() {
		t.Errorf("summary %+v: want b interrupted", s)
	}
}

// stubbornUndo ignores its context while undoing.
type stubbornUndo struct {
	fakeTask
	release chan struct{}
}

func (s *stubbornUndo) Undo(ctx context.Context, rec Record, note func(string)) error {
	<-s.release
	return nil
}

// Compensate reports an undo that fails, or never returns, as failed and
// left; an interrupted step without a checkpoint as unchanged.
func TestCompensateReportsFailuresNotUndone(t *testing.T) {
	log := &eventLog{}
	release := make(chan struct{})
	defer close(release)
	changes := []Change{
		{Step: "a", Index: 0, Task: &fakeTask{name: "a", log: log}, Record: Record(`"a"`)},
		{Step: "b", Index: 1, Task: &fakeTask{name: "b", log: log, undoErr: errors.New("cannot undo type x")}, Record: Record(`"b"`)},
		{Step: "c", Index: 2, Task: &stubbornUndo{fakeTask{name: "c", log: log}, release}, Record: Record(`"c"`)},
		{Step: "d", Index: 3, Task: &fakeTask{name: "d", log: log}, Interrupted: true},
		// Completed without a record (a health check): nothing to undo,
		// whatever its undo would say.
		{Step: "e", Index: 4, Task: &fakeTask{name: "e", log: log, undoErr: errors.New("no undo for this type")}},
	}
	var events []string
	c := Compensate(context.Background(), changes, Options{UndoTimeout: 20 * time.Millisecond, Grace: 20 * time.Millisecond,
		Events: func(e Event) { events = append(events, e.Step+" "+string(e.Status)) }})
	if !slices.Equal(c.Undone, []int{4, 0}) || !slices.Equal(c.Unchanged, []int{3}) || !slices.Equal(c.Left, []int{1, 2}) || c.Complete() {
		t.Fatalf("%+v", c)
	}
	if !strings.Contains(c.Failed[1].Error(), "cannot undo type x") || !strings.Contains(c.Failed[2].Error(), "ignores its context") {
		t.Errorf("failed %v", c.Failed)
	}
	want := []string{"e rolled back", "d rolled back", "c rollback failed", "b rollback failed", "a rolled back"}
	if !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

// An empty journal (its apply stopped before the begin record) needs
// nothing: no refusal, no rollback that would write into it.
func TestEmptyJournalNeedsNothing(t *testing.T) {
	if s := Summarize(nil); s.NeedsRollback() || s.NeedsFinish() {
		t.Fatalf("%+v", s)
	}
}

// stubbornFuser fuses with the next step and then ignores its context.
type stubbornFuser struct {
	fakeTask
	release chan struct{}
}

func (s *stubbornFuser) Fuse(next Task) FusedApply {
	return func(ctx context.Context, noteFirst, noteSecond func(string), firstDone func(Record, error)) (Record, error) {
		s.log.add("fused")
		<-s.release
		firstDone(nil, nil)
		return nil, nil
	}
}

// A fused pair that ignores its context is reported stuck, both steps,
// and the walk ends.
func TestStuckFusedPair(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	log := &eventLog{}
	tasks := tasksFor(g, log, nil)
	release := make(chan struct{})
	defer close(release)
	tasks[0] = &stubbornFuser{fakeTask{name: "a", log: log}, release}
	out := Run(context.Background(), g, tasks, Options{Rollback: true, Grace: 10 * time.Millisecond,
		Timeout: func(int) time.Duration { return 10 * time.Millisecond }})
	log.mu.Lock() // the stuck apply still runs
	fused := slices.Contains(log.evs, "fused")
	log.mu.Unlock()
	if !fused || out.Status[0] != Stuck || out.Status[1] != Stuck || out.Code != ExitRollbackPartial || !slices.Equal(out.Left, []int{0, 1}) {
		t.Fatalf("events %v status %v code %d left %v", log.evs, out.Status, out.Code, out.Left)
	}
}
