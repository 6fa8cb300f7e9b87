package executor

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// leftoverTask fails and returns what it could not clean up.
type leftoverTask struct {
	fakeTask
}

func (t *leftoverTask) Apply(ctx context.Context, note func(string)) (Record, error) {
	t.log.add("apply " + t.name)
	return json.RawMessage(`"left"`), errors.New("boom, and cleaning up failed")
}

// A failed step that returns a record left changes behind: it is journaled
// with that record and undone first; a first step failing that way is not
// "nothing changed".
func TestRunFailedStepWithLeftoversIsUndone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		undoErr error
		code    int
	}{{"undo works", nil, ExitRolledBack}, {"undo fails", errors.New("no"), ExitRollbackPartial}} {
		t.Run(tc.name, func(t *testing.T) {
			g := graphOf(t, map[string][]string{"b": {"a"}}, []string{"a", "b"})
			log := &eventLog{}
			tasks := tasksFor(g, log, nil)
			tasks[0] = &leftoverTask{fakeTask{name: "a", log: log, undoErr: tc.undoErr}}
			j, err := CreateJournal(t.TempDir(), "20260101T000000Z-abc", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Append(Entry{Kind: KindBegin}); err != nil {
				t.Fatal(err)
			}
			out := Run(context.Background(), g, tasks, Options{Rollback: true, Journal: j})
			if out.Code != tc.code || !slices.Contains(log.evs, `undo a "left"`) {
				t.Fatalf("code %d (want %d), events %v", out.Code, tc.code, log.evs)
			}
			entries, err := ReadJournal(j.Path)
			if err != nil {
				t.Fatal(err)
			}
			var failed Entry
			for _, e := range entries {
				if e.Kind == KindFailed {
					failed = e
				}
			}
			if string(failed.Record) != `"left"` {
				t.Fatalf("failed entry %+v: want the record of what is left", failed)
			}
		})
	}
}
