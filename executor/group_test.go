// This file tests group fusion (group.go) with fake tasks: which steps the
// walk makes as one action, and that each keeps its own journal records,
// status and undo.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// groupTask is a fakeTask of a kind: drains group with drains, restores
// with restores and with the drains waiting for them alone.
type groupTask struct {
	fakeTask
	kind string
}

func (t *groupTask) Joins(other Task, next bool) bool {
	o, ok := other.(*groupTask)
	if !ok {
		return false
	}
	if next {
		return t.kind == "restore" && o.kind == "drain"
	}
	return o.kind == t.kind && (t.kind == "drain" || t.kind == "restore")
}

func (t *groupTask) FuseGroup(first, next []Task) GroupApply {
	var names []string
	all := append(append([]Task{}, first...), next...)
	for _, m := range first {
		names = append(names, m.(*groupTask).name)
	}
	names = append(names, "|")
	for _, m := range next {
		names = append(names, m.(*groupTask).name)
	}
	return func(ctx context.Context, notes []func(string), done func(int, Record, error)) {
		t.log.add("group " + strings.Join(names, " "))
		for _, m := range all {
			if f := m.(*groupTask).fail; f != nil {
				for k := range all {
					done(k, nil, fmt.Errorf("not started: %w", f))
				}
				return
			}
		}
		for k, m := range all {
			notes[k]("made in the group")
			done(k, json.RawMessage(fmt.Sprintf("%q", m.(*groupTask).name)), nil)
		}
	}
}

func (t *groupTask) JoinsUndo(own Record, other Undoer, rec Record) bool {
	o, ok := other.(*groupTask)
	return ok && o.kind == t.kind && (t.kind == "drain" || t.kind == "restore")
}

func (t *groupTask) UndoGroup(ctx context.Context, members []Undoer, recs []Record, notes []func(string)) []error {
	var names []string
	errs := make([]error, len(members))
	for k, m := range members {
		names = append(names, fmt.Sprintf("%s=%s", m.(*groupTask).name, recs[k]))
		errs[k] = m.(*groupTask).undoErr
	}
	t.log.add("undo group " + strings.Join(names, " "))
	return errs
}

// rolloutPlan is a rollout of targets in batches of size: per target
// drain → deploy → restore, each phase of a batch ending at a barrier,
// and, with gate, a gate step after each batch's restores.
func rolloutPlan(targets []string, size int, gate bool) *dsl.Plan {
	p := &dsl.Plan{}
	var after []string
	for b := 0; b*size < len(targets); b++ {
		batch := targets[b*size : min(len(targets), (b+1)*size)]
		prev := after
		for k, phase := range []string{"drain", "deploy", "restore"} {
			bar := fmt.Sprintf("batch %d %s done", b+1, phase)
			for _, t := range batch {
				s := &dsl.Step{Addr: t + "." + phase, Type: phase}
				for _, d := range prev {
					s.DependsOn = append(s.DependsOn, dsl.Dependency{Addr: d, Implicit: true})
				}
				if k > 0 {
					s.DependsOn = append(s.DependsOn, dsl.Dependency{Addr: t + "." + []string{"drain", "deploy"}[k-1], Implicit: true})
				}
				p.Steps = append(p.Steps, s)
			}
			barrier := &dsl.Barrier{Addr: bar}
			for _, t := range batch {
				barrier.After = append(barrier.After, t+"."+phase)
			}
			p.Barriers = append(p.Barriers, barrier)
			prev = []string{bar}
		}
		after = prev
		if gate {
			g := &dsl.Step{Addr: fmt.Sprintf("gate[%d]", b+1), Type: "gate", DependsOn: []dsl.Dependency{{Addr: prev[0], Implicit: true}}}
			p.Steps = append(p.Steps, g)
			after = []string{g.Addr}
		}
	}
	return p
}

func groupTasks(g *Graph, log *eventLog, mod func(*groupTask)) []Task {
	out := make([]Task, len(g.Steps))
	for i, s := range g.Steps {
		gt := &groupTask{fakeTask: fakeTask{name: s.Addr, log: log}, kind: s.Type}
		if mod != nil {
			mod(gt)
		}
		out[i] = gt
	}
	return out
}

func groups(log *eventLog) []string {
	var out []string
	for _, e := range log.evs {
		if g, ok := strings.CutPrefix(e, "group "); ok {
			out = append(out, g)
		}
	}
	return out
}

// A batch's drains are one action; its restores and the next batch's
// drains another; the last batch's restores a third: batches + 1 actions
// in all, whatever the parallelism (a group takes one slot).
func TestRunGroupsBatches(t *testing.T) {
	targets := []string{"a", "b", "c", "d", "e", "f"}
	for _, par := range []int{1, 4} {
		t.Run(fmt.Sprint("parallelism ", par), func(t *testing.T) {
			g, diags := Build(rolloutPlan(targets, 3, false))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			log := &eventLog{}
			out := Run(context.Background(), g, groupTasks(g, log, nil), Options{Parallelism: par, Rollback: true})
			if out.Code != ExitApplied {
				t.Fatalf("exit %d: %v", out.Code, out.Cause)
			}
			want := []string{
				"a.drain b.drain c.drain |",
				"a.restore b.restore c.restore | d.drain e.drain f.drain",
				"d.restore e.restore f.restore |",
			}
			if got := groups(log); !slices.Equal(got, want) {
				t.Fatalf("groups %q, want %q", got, want)
			}
			for i, s := range out.Status {
				if s != Done && s != Finalized {
					t.Errorf("%s: %s", g.Steps[i].Addr, s)
				}
				if strings.HasSuffix(g.Steps[i].Addr, "drain") && (len(out.Notes[i]) != 1 || out.Notes[i][0] != "made in the group") {
					t.Errorf("%s: notes %q", g.Steps[i].Addr, out.Notes[i])
				}
			}
			for _, e := range log.evs {
				if strings.HasPrefix(e, "apply ") && !strings.HasSuffix(e, ".deploy") {
					t.Errorf("%s ran on its own", e)
				}
			}
		})
	}
}

// With a gate after each batch, the next drains wait for the gate, not for
// the restores alone: they are never fused with them, and the gate runs
// after the restores' action and before the next drains'.
func TestRunGroupNotAcrossGate(t *testing.T) {
	g, diags := Build(rolloutPlan([]string{"a", "b", "c", "d"}, 2, true))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, groupTasks(g, log, nil), Options{Rollback: true})
	if out.Code != ExitApplied {
		t.Fatalf("exit %d: %v", out.Code, out.Cause)
	}
	want := []string{"a.drain b.drain |", "a.restore b.restore |", "c.drain d.drain |", "c.restore d.restore |"}
	if got := groups(log); !slices.Equal(got, want) {
		t.Fatalf("groups %q, want %q", got, want)
	}
	restored := slices.Index(log.evs, "group a.restore b.restore |")
	gate := slices.Index(log.evs, "apply gate[1]")
	drains := slices.Index(log.evs, "group c.drain d.drain |")
	if restored >= gate || gate >= drains {
		t.Errorf("restores at %d, gate at %d, next drains at %d: %v", restored, gate, drains, log.evs)
	}
}

// Each member of a group is journaled as its own step (intent, done with
// its own record), and a later failure undoes each from its own record.
func TestRunGroupJournalsAndUndoesEachStep(t *testing.T) {
	g, diags := Build(rolloutPlan([]string{"a", "b", "c", "d"}, 2, false))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	j, err := CreateJournal(t.TempDir(), "20260101T000000Z-grp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Entry{Kind: KindBegin}); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, groupTasks(g, log, func(gt *groupTask) {
		if gt.name == "c.deploy" {
			gt.fail = errors.New("boom")
		}
	}), Options{Rollback: true, Journal: j})
	if out.Code != ExitRolledBack {
		t.Fatalf("exit %d: %v", out.Code, out.Cause)
	}
	entries, err := ReadJournal(j.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a.drain", "b.drain", "a.restore", "b.restore", "c.drain", "d.drain"} {
		if !hasKind(entries, KindIntent, s) {
			t.Errorf("%s: no intent journaled", s)
		}
		if !slices.ContainsFunc(entries, func(e Entry) bool {
			return e.Kind == KindDone && e.Step == s && string(e.Record) == fmt.Sprintf("%q", s)
		}) {
			t.Errorf("%s: not journaled done with its own record", s)
		}
		if !slices.ContainsFunc(log.evs, func(e string) bool {
			return e == fmt.Sprintf("undo %s %q", s, s) || strings.HasPrefix(e, "undo group ") && strings.Contains(e, fmt.Sprintf("%s=%q", s, s))
		}) {
			t.Errorf("%s: not undone from its own record: %v", s, log.evs)
		}
	}
}

// When the group's shared change fails, every member fails with it: one
// root cause, the others cancelled, nothing to undo, and the exit says
// nothing changed.
func TestRunGroupFailure(t *testing.T) {
	g, diags := Build(rolloutPlan([]string{"a", "b", "c"}, 3, false))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, groupTasks(g, log, func(gt *groupTask) {
		if gt.name == "b.drain" {
			gt.fail = errors.New("nginx -t failed")
		}
	}), Options{Rollback: true})
	if out.Code != ExitNoChange {
		t.Fatalf("exit %d: %v", out.Code, out.Cause)
	}
	failed, cancelled := 0, 0
	for i, s := range out.Status {
		switch {
		case s == Failed:
			failed++
		case s == Cancelled:
			cancelled++
		case strings.HasSuffix(g.Steps[i].Addr, ".drain"):
			t.Errorf("%s: %s", g.Steps[i].Addr, s)
		}
	}
	if failed != 1 || cancelled != 2 || !strings.Contains(fmt.Sprint(out.Cause), "nginx -t failed") {
		t.Errorf("failed %d, cancelled %d, cause %v", failed, cancelled, out.Cause)
	}
	if slices.ContainsFunc(log.evs, func(e string) bool { return strings.HasPrefix(e, "undo ") || strings.HasPrefix(e, "apply ") }) {
		t.Errorf("events %v", log.evs)
	}
}

// A task that is not a GroupFuser, or a group of one, runs as before.
func TestRunGroupOfOneIsNotAGroup(t *testing.T) {
	g, diags := Build(rolloutPlan([]string{"a", "b"}, 1, false))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, groupTasks(g, log, nil), Options{Rollback: true})
	if out.Code != ExitApplied {
		t.Fatalf("exit %d: %v", out.Code, out.Cause)
	}
	if got := groups(log); len(got) != 0 {
		t.Errorf("groups %q for batches of one", got)
	}
}

// A failed rollout is compensated in groups: each batch's drains put back
// as one action, its restores taken out as one, each step journaled and
// reported on its own; a member's failure is its own.
func TestRunCompensatesInGroups(t *testing.T) {
	g, diags := Build(rolloutPlan([]string{"a", "b", "c", "d", "e", "f"}, 3, false))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	j, err := CreateJournal(t.TempDir(), "20260101T000000Z-cmp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Entry{Kind: KindBegin}); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	out := Run(context.Background(), g, groupTasks(g, log, func(gt *groupTask) {
		switch gt.name {
		case "e.deploy":
			gt.fail = errors.New("boom")
		case "b.restore":
			gt.undoErr = errors.New("nginx -t failed")
		}
	}), Options{Rollback: true, Journal: j})
	if out.Code != ExitRollbackPartial {
		t.Fatalf("exit %d: %v", out.Code, out.Cause)
	}
	var undos []string
	for _, e := range log.evs {
		if g, ok := strings.CutPrefix(e, "undo group "); ok {
			undos = append(undos, g)
		}
	}
	want := []string{
		`f.drain="f.drain" e.drain="e.drain" d.drain="d.drain"`,
		`c.restore="c.restore" b.restore="b.restore" a.restore="a.restore"`,
		`c.drain="c.drain" b.drain="b.drain" a.drain="a.drain"`,
	}
	if !slices.Equal(undos, want) {
		t.Fatalf("group undos %q, want %q (events %v)", undos, want, log.evs)
	}
	entries, err := ReadJournal(j.Path)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range g.Steps {
		switch {
		case s.Addr == "b.restore":
			if out.Status[i] != RollbackFailed || !hasKind(entries, KindUndoFailed, s.Addr) {
				t.Errorf("%s: %s", s.Addr, out.Status[i])
			}
		case out.Status[i] == Skipped:
		case s.Type == "drain" || s.Type == "restore":
			if out.Status[i] != RolledBack || !hasKind(entries, KindUndo, s.Addr) || !hasKind(entries, KindUndone, s.Addr) {
				t.Errorf("%s: %s, or not journaled as undone", s.Addr, out.Status[i])
			}
		}
	}
	if !slices.Equal(out.Left, []int{g.Index("b.restore")}) {
		t.Errorf("left %v", out.Left)
	}
}
