package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// fakeTask records what the executor asks of it. Unit tests of the walk
// only: the real steps are tested against Docker and nginx in internal/e2e.
type fakeTask struct {
	name    string
	log     *eventLog
	fail    error
	undoErr error
	block   bool // wait for ctx
	// irreversible: Reversible says a completed Apply left nothing to undo.
	irreversible bool
	// fuses: Fuse accepts any next fakeTask; it applies both, logging
	// "fused a+b", and the first's fail fails both.
	fuses   bool
	running *atomic.Int32
	peak    *atomic.Int32
}

type eventLog struct {
	mu  sync.Mutex
	evs []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, s)
}

func (t *fakeTask) Apply(ctx context.Context, note func(string)) (Record, error) {
	if t.running != nil {
		n := t.running.Add(1)
		defer t.running.Add(-1)
		for {
			p := t.peak.Load()
			if n <= p || t.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.log.add("apply " + t.name)
	if t.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if t.fail != nil {
		return nil, t.fail
	}
	return json.RawMessage(fmt.Sprintf("%q", t.name)), nil
}

func (t *fakeTask) Undo(ctx context.Context, rec Record, note func(string)) error {
	t.log.add("undo " + t.name + " " + string(rec))
	return t.undoErr
}

func (t *fakeTask) Reversible(rec Record) bool { return !t.irreversible }

func (t *fakeTask) Fuse(next Task) FusedApply {
	n, ok := next.(*fakeTask)
	if !t.fuses || !ok {
		return nil
	}
	return func(ctx context.Context, noteFirst, noteSecond func(string), firstDone func(Record, error)) (Record, error) {
		t.log.add("fused " + t.name + "+" + n.name)
		if t.fail != nil {
			firstDone(nil, t.fail)
			return nil, errors.New("not started: the step it was fused with failed")
		}
		firstDone(json.RawMessage(fmt.Sprintf("%q", t.name)), nil)
		if n.fail != nil {
			return nil, n.fail
		}
		return json.RawMessage(fmt.Sprintf("%q", n.name)), nil
	}
}

func (t *fakeTask) Finalize(ctx context.Context, rec Record) error {
	t.log.add("finalize " + t.name)
	return nil
}

// chain builds a plan of steps a → b → c ... from (name, deps) pairs.
func graphOf(t *testing.T, spec map[string][]string, order []string) *Graph {
	t.Helper()
	p := &dsl.Plan{}
	for _, n := range order {
		s := &dsl.Step{Addr: n}
		for _, d := range spec[n] {
			s.DependsOn = append(s.DependsOn, dsl.Dependency{Addr: d})
		}
		p.Steps = append(p.Steps, s)
	}
	g, diags := Build(p)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return g
}

func tasksFor(g *Graph, log *eventLog, mod func(*fakeTask)) []Task {
	out := make([]Task, len(g.Steps))
	for i, s := range g.Steps {
		ft := &fakeTask{name: s.Addr, log: log}
		if mod != nil {
			mod(ft)
		}
		out[i] = ft
	}
	return out
}

func TestRunSuccessFinalizesInOrder(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}}, []string{"a", "b", "c"})
	log := &eventLog{}
	out := Run(context.Background(), g, tasksFor(g, log, nil), Options{Parallelism: 2})
	want := []string{"apply a", "apply b", "apply c", "finalize a", "finalize b", "finalize c"}
	if out.Code != ExitApplied || !slices.Equal(log.evs, want) {
		t.Fatalf("code %d, events %v; want 0, %v", out.Code, log.evs, want)
	}
}

func TestRunFailureRollsBackInReverseCompletionOrder(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}, "d": {"c"}}, []string{"a", "b", "c", "d"})
	log := &eventLog{}
	out := Run(context.Background(), g, tasksFor(g, log, func(ft *fakeTask) {
		if ft.name == "c" {
			ft.fail = errors.New("boom")
		}
	}), Options{Rollback: true})
	want := []string{"apply a", "apply b", "apply c", `undo b "b"`, `undo a "a"`}
	if !slices.Equal(log.evs, want) {
		t.Fatalf("events %v, want %v", log.evs, want)
	}
	if out.Code != ExitRolledBack || out.CauseStep != 2 || out.Cause.Error() != "boom" {
		t.Fatalf("code %d cause %v at %d", out.Code, out.Cause, out.CauseStep)
	}
	wantStatus := []Status{RolledBack, RolledBack, Failed, Skipped}
	if !slices.Equal(out.Status, wantStatus) {
		t.Fatalf("status %v, want %v", out.Status, wantStatus)
	}
}

func TestRunUndoErrorsAreAllReported(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}}, []string{"a", "b", "c"})
	log := &eventLog{}
	out := Run(context.Background(), g, tasksFor(g, log, func(ft *fakeTask) {
		switch ft.name {
		case "c":
			ft.fail = errors.New("boom")
		case "a", "b":
			ft.undoErr = errors.New("undo " + ft.name + " failed")
		}
	}), Options{Rollback: true})
	if out.Code != ExitRollbackPartial || len(out.UndoErrors) != 2 || !slices.Equal(out.Left, []int{0, 1}) {
		t.Fatalf("code %d, undo errors %v, left %v", out.Code, out.UndoErrors, out.Left)
	}
}

func TestRunFirstStepFailsIsNoChange(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	out := Run(context.Background(), g, tasksFor(g, &eventLog{}, func(ft *fakeTask) {
		if ft.name == "a" {
			ft.fail = errors.New("boom")
		}
	}), Options{Rollback: true})
	if out.Code != ExitNoChange {
		t.Fatalf("code %d, want %d", out.Code, ExitNoChange)
	}
}

func TestRunStopPolicyLeavesCompletedSteps(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	log := &eventLog{}
	out := Run(context.Background(), g, tasksFor(g, log, func(ft *fakeTask) {
		if ft.name == "b" {
			ft.fail = errors.New("boom")
		}
	}), Options{Rollback: false})
	if out.Code != ExitRollbackPartial || !slices.Equal(out.Left, []int{0}) || slices.Contains(log.evs, `undo a "a"`) {
		t.Fatalf("code %d left %v events %v", out.Code, out.Left, log.evs)
	}
}

func TestRunParallelismBound(t *testing.T) {
	spec := map[string][]string{}
	var order []string
	for i := 0; i < 12; i++ {
		order = append(order, fmt.Sprintf("s%02d", i))
	}
	g := graphOf(t, spec, order)
	var running, peak atomic.Int32
	out := Run(context.Background(), g, tasksFor(g, &eventLog{}, func(ft *fakeTask) { ft.running, ft.peak = &running, &peak }), Options{Parallelism: 3})
	if out.Code != ExitApplied || peak.Load() > 3 || peak.Load() < 2 {
		t.Fatalf("code %d, peak concurrency %d; want ≤ 3 and > 1", out.Code, peak.Load())
	}
}

func TestRunInterruptRollsBack(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	log := &eventLog{}
	ctx, cancel := context.WithCancel(context.Background())
	tasks := tasksFor(g, log, func(ft *fakeTask) { ft.block = ft.name == "b" })
	go func() {
		for {
			log.mu.Lock()
			started := slices.Contains(log.evs, "apply b")
			log.mu.Unlock()
			if started {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	out := Run(ctx, g, tasks, Options{Rollback: true})
	if out.Code != ExitRolledBack || out.CauseStep != -1 || out.Status[1] != Cancelled || out.Status[0] != RolledBack {
		t.Fatalf("code %d cause %v step %d status %v", out.Code, out.Cause, out.CauseStep, out.Status)
	}
}

func TestRunSecondInterruptStopsRollback(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}}, []string{"a", "b", "c"})
	rb, stop := context.WithCancel(context.Background())
	stop() // the rollback is already stopped when it begins
	out := Run(context.Background(), g, tasksFor(g, &eventLog{}, func(ft *fakeTask) {
		if ft.name == "c" {
			ft.fail = errors.New("boom")
		}
	}), Options{Rollback: true, RollbackContext: rb})
	if out.Code != ExitRollbackPartial || !slices.Equal(out.Left, []int{0, 1}) {
		t.Fatalf("code %d left %v", out.Code, out.Left)
	}
}

// A step with nothing to undo (a health check) is not "still in place",
// whether the rollback was cut short or never ran.
func TestRunLeftOmitsIrreversibleSteps(t *testing.T) {
	g := graphOf(t, map[string][]string{"b": {"a"}, "c": {"b"}}, []string{"a", "b", "c"})
	for _, rollback := range []bool{true, false} {
		rb, stop := context.WithCancel(context.Background())
		stop()
		out := Run(context.Background(), g, tasksFor(g, &eventLog{}, func(ft *fakeTask) {
			ft.irreversible = ft.name == "b"
			if ft.name == "c" {
				ft.fail = errors.New("boom")
			}
		}), Options{Rollback: rollback, RollbackContext: rb})
		if out.Code != ExitRollbackPartial || !slices.Equal(out.Left, []int{0}) {
			t.Errorf("rollback %v: code %d left %v, want [0]", rollback, out.Code, out.Left)
		}
	}
}

func TestJournalRoundTripAndSummary(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, "20260101T000000Z-abc", map[string]string{"a": "drain", "b": "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
	_ = j.Append(Entry{Kind: KindBegin, ApplyID: "20260101T000000Z-abc"})
	// Simulate a crash after b started: no end entry.
	_ = j.Append(Entry{Kind: KindIntent, Step: "a"})
	_ = j.Append(Entry{Kind: KindDone, Step: "a", Record: json.RawMessage(`{"x":1}`)})
	_ = j.Append(Entry{Kind: KindIntent, Step: "b"})
	j.Close()
	_ = g
	path, _ := LastJournal(dir)
	entries, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(entries)
	if s.Finished || !s.NeedsRollback() || len(s.Outstanding) != 1 || s.Outstanding[0].Type != "drain" || string(s.Outstanding[0].Record) != `{"x":1}` || len(s.Interrupted) != 1 || s.Interrupted[0].Step != "b" {
		t.Fatalf("summary %+v", s)
	}
	if info, err := filepath.Glob(filepath.Join(dir, "applies", "*.jsonl")); err != nil || len(info) != 1 {
		t.Fatalf("journal files %v", info)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, LockInfo{ID: "one", PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir, LockInfo{ID: "two"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second acquire: %v, want ErrLocked", err)
	}
	if err := Unlock(dir, "one"); err == nil {
		t.Fatal("unlock of a live lock succeeded")
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	// A holder that died without releasing: the info file stays.
	l2, _ := Acquire(dir, LockInfo{ID: "dead"})
	_ = l2.fl.Unlock()
	if _, err := Acquire(dir, LockInfo{ID: "three"}); !errors.Is(err, ErrStaleLock) {
		t.Fatalf("acquire over a dead holder: %v, want ErrStaleLock", err)
	}
	if err := Unlock(dir, "wrong"); err == nil {
		t.Fatal("unlock with the wrong ID succeeded")
	}
	if err := Unlock(dir, "dead"); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir, LockInfo{ID: "four"}); err != nil {
		t.Fatalf("acquire after unlock: %v", err)
	}
}

// A task that fuses with the one step waiting for it alone runs both as
// one action; each keeps its own status, record, undo and finalize.
func TestRunFusesWithSoleWaiter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deps     map[string][]string
		failA    bool
		wantFuse bool
		wantCode int
	}{
		{"fused", map[string][]string{"b": {"a"}, "c": {"b"}}, false, true, ExitApplied},
		{"waits for another step too", map[string][]string{"b": {"a", "x"}, "c": {"b"}, "x": {"c0"}, "a": {}, "c0": {}}, false, false, ExitApplied},
		{"first fails", map[string][]string{"b": {"a"}, "c": {"b"}}, true, true, ExitNoChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := map[string]bool{"a": true, "b": true, "c": true}
			for k, v := range tc.deps {
				names[k] = true
				for _, d := range v {
					names[d] = true
				}
			}
			order := slices.Sorted(maps.Keys(names))
			g := graphOf(t, tc.deps, order)
			log := &eventLog{}
			out := Run(context.Background(), g, tasksFor(g, log, func(ft *fakeTask) {
				ft.fuses = ft.name == "a"
				if tc.failA && ft.name == "a" {
					ft.fail = errors.New("boom")
				}
			}), Options{Rollback: true})
			fused := slices.Contains(log.evs, "fused a+b")
			if fused != tc.wantFuse || out.Code != tc.wantCode {
				t.Fatalf("fused %v (want %v), code %d (want %d), events %v", fused, tc.wantFuse, out.Code, tc.wantCode, log.evs)
			}
			idx := slices.Index(order, "b")
			switch {
			case tc.failA && out.Status[idx] != Cancelled:
				t.Errorf("b: %s, want cancelled", out.Status[idx])
			case !tc.failA && out.Status[idx] != Done:
				t.Errorf("b: %s, want done", out.Status[idx])
			}
			if !tc.failA && (!slices.Contains(log.evs, "finalize a") || !slices.Contains(log.evs, "finalize b") || !slices.Contains(log.evs, "apply c")) {
				t.Errorf("events %v", log.evs)
			}
			if tc.wantFuse && slices.Contains(log.evs, "apply b") {
				t.Errorf("b ran again on its own: %v", log.evs)
			}
		})
	}
}
