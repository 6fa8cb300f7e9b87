package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

func rec(id string) HistoryRecord {
	t := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return HistoryRecord{ID: id, Kind: KindApply, Started: t, Finished: t.Add(3 * time.Second), Outcome: OutcomeApplied}
}

// Records appended are read back in order, one per line, in a file only
// its owner can read.
func TestHistoryAppendRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".nonstop")
	for _, id := range []string{"a1", "a2"} {
		if err := AppendHistory(dir, rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a1" || got[1].ID != "a2" || got[0].Version != HistoryVersion || got[1].Duration() != 3*time.Second {
		t.Fatalf("got %+v", got)
	}
	info, err := os.Stat(HistoryPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(HistoryPath(dir))
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, b)
	}
}

// No file is no records, not an error.
func TestHistoryMissing(t *testing.T) {
	got, err := ReadHistory(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

// The read rules: only a torn last line is ignored; anything else that is
// not a record is an error naming its line.
func TestHistoryReadRules(t *testing.T) {
	good, _ := json.Marshal(rec("a1"))
	newer, _ := json.Marshal(HistoryRecord{Version: HistoryVersion + 1, ID: "a2", Kind: KindApply})
	noKind, _ := json.Marshal(HistoryRecord{Version: 1, ID: "a3"})
	for _, tc := range []struct {
		name, text string
		n          int
		line       int // 0: no error
		msg        string
	}{
		{"empty", "", 0, 0, ""},
		{"one", string(good) + "\n", 1, 0, ""},
		{"torn last line", string(good) + "\n" + `{"id":"a2","ki`, 1, 0, ""},
		{"only torn", `{"id":"a2","ki`, 0, 0, ""},
		{"bad middle line", string(good) + "\n{oops\n" + string(good) + "\n", 0, 2, "not a history record"},
		{"bad last full line", string(good) + "\nnot json\n", 0, 2, "not a history record"},
		{"newer version", string(newer) + "\n", 0, 1, "newer plan"},
		{"no kind", string(good) + "\n" + string(noKind) + "\n", 0, 2, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(HistoryPath(dir), []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadHistory(dir)
			if tc.line == 0 {
				if err != nil || len(got) != tc.n {
					t.Fatalf("got %d records, %v; want %d", len(got), err, tc.n)
				}
				return
			}
			var he *HistoryError
			if !errors.As(err, &he) || he.Line != tc.line || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), fmt.Sprintf("line %d", tc.line)) {
				t.Fatalf("got %v; want a HistoryError at line %d with %q", err, tc.line, tc.msg)
			}
		})
	}
}

// A torn last line left by a writer that died is cut off before the next
// record, which then reads as a line of its own.
func TestHistoryAppendAfterTornLine(t *testing.T) {
	dir := t.TempDir()
	good, _ := json.Marshal(rec("a1"))
	if err := os.WriteFile(HistoryPath(dir), append(append(good, '\n'), `{"id":"torn`...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AppendHistory(dir, rec("a2")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(dir)
	if err != nil || len(got) != 2 || got[1].ID != "a2" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestFindHistory(t *testing.T) {
	rs := []HistoryRecord{rec("20261127T100000.000000Z-aaaaaa"), rec("20261127T110000.000000Z-bbbbbb"), rec("20261127T110000.000000Z-cccccc")}
	for _, tc := range []struct{ id, want, err string }{
		{"20261127T100000.000000Z-aaaaaa", "20261127T100000.000000Z-aaaaaa", ""},
		{"20261127T10", "20261127T100000.000000Z-aaaaaa", ""},
		{"20261127T11", "", "matches 2 records"},
		{"2025", "", "no apply or rollback"},
		{"", "", "no apply or rollback"},
	} {
		got, err := FindHistory(rs, tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want error %q", tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || got.ID != tc.want {
			t.Errorf("%q: got %v, %v; want %s", tc.id, got, err, tc.want)
		}
	}
}

// Outside a git tree there is no git info; inside, the commit, and dirty
// only for changes outside the state folder.
func TestGitInfo(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, ".nonstop")
	if g := gitInfo(dir, state); g != nil {
		t.Fatalf("not a git tree: got %+v", g)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	write := func(name, text string) {
		t.Helper()
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plan.hcl", "x")
	git("add", ".")
	git("commit", "-qm", "one")
	head := git("rev-parse", "HEAD")
	write(".nonstop/history.jsonl", "{}\n")
	if g := gitInfo(dir, state); g == nil || g.Commit != head || g.Dirty {
		t.Fatalf("clean tree (state aside): got %+v, want %s clean", g, head)
	}
	write("plan.hcl", "y")
	if g := gitInfo(dir, state); g == nil || g.Commit != head || !g.Dirty {
		t.Fatalf("changed plan: got %+v, want %s dirty", g, head)
	}
}

// Images come from the done records that name one (deploy's), marked
// undone when the journal has their undo; other records are skipped.
func TestJournalImages(t *testing.T) {
	dep := json.RawMessage(`{"replacement":{"name":"app1","old_id":"abc"},"image":"app:v2","image_digest":"sha256:ff"}`)
	entries := []executor.Entry{
		{Kind: executor.KindBegin},
		{Kind: executor.KindDone, Step: "drain.a", Record: json.RawMessage(`{"nginx":{}}`)},
		{Kind: executor.KindDone, Step: "deploy.a", Record: dep},
		{Kind: executor.KindDone, Step: "deploy.b", Record: dep},
		{Kind: executor.KindUndone, Step: "deploy.b"},
	}
	got := journalImages(entries)
	want := []ImageChange{
		{Step: "deploy.a", Container: "app1", OldContainer: "abc", Image: "app:v2", ImageDigest: "sha256:ff"},
		{Step: "deploy.b", Container: "app1", OldContainer: "abc", Image: "app:v2", ImageDigest: "sha256:ff", Undone: true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// A sensitive variable's value never reaches the history.
func TestHistoryVarsHideSensitive(t *testing.T) {
	p := &dsl.Plan{Variables: []*dsl.Variable{
		{Name: "version", Value: `"v2"`, Source: "-var"},
		{Name: "token", Value: `"s3cret"`, Sensitive: true, Source: "default"},
	}}
	got := historyVars(p, nil)
	if len(got) != 2 || got[0].Value != `"v2"` || got[1].Value != Hidden || !got[1].Sensitive {
		t.Fatalf("got %+v", got)
	}
}

func TestApplyOutcome(t *testing.T) {
	for code, want := range map[int]string{0: OutcomeApplied, 1: OutcomeFailed, 2: OutcomeRolledBack, 3: OutcomeRollbackIncomplete} {
		if got := applyOutcome(code); got != want {
			t.Errorf("%d: got %s, want %s", code, got, want)
		}
	}
}

// An apply that takes the lock leaves one record; -dry-run leaves none.
// (A plan without steps runs without Docker.)
func TestApplyAppendsHistory(t *testing.T) {
	folder := t.TempDir()
	p := &dsl.Plan{Path: filepath.Join(folder, "plan.hcl"), Variables: []*dsl.Variable{{Name: "token", Value: `"s3cret"`, Sensitive: true}}}
	g := &executor.Graph{}
	o := Options{Steps: steps.Builtin(), Log: zerolog.Nop(), TargetLockDir: t.TempDir(),
		Watch: func() []WatchCount { return []WatchCount{{URL: "http://x/", Requests: 10, Failed: 1}} }}
	dry := o
	dry.DryRun = true
	if _, err := Apply(context.Background(), p, g, dry); err != nil {
		t.Fatal(err)
	}
	dir := StateDir(p, "")
	if rs, err := ReadHistory(dir); err != nil || len(rs) != 0 {
		t.Fatalf("after -dry-run: %+v, %v", rs, err)
	}
	res, err := Apply(context.Background(), p, g, o)
	if err != nil {
		t.Fatal(err)
	}
	declined := o
	declined.Confirm = func() bool { return false }
	if _, err := Apply(context.Background(), p, g, declined); !errors.Is(err, ErrAborted) {
		t.Fatalf("declined: %v", err)
	}
	rs, err := ReadHistory(dir)
	if err != nil || len(rs) != 2 {
		t.Fatalf("%+v, %v", rs, err)
	}
	r := rs[0]
	if r.ID != res.ApplyID || r.Kind != KindApply || r.Outcome != OutcomeApplied || r.User == "" || r.PlanHash == "" ||
		r.Git != nil || len(r.Watch) != 1 || r.Watch[0].Failed != 1 || r.Finished.Before(r.Started) {
		t.Errorf("apply record %+v", r)
	}
	if len(r.Variables) != 1 || r.Variables[0].Value != Hidden {
		t.Errorf("variables %+v", r.Variables)
	}
	if rs[1].Outcome != OutcomeCancelled || rs[1].ExitCode != executor.ExitNoChange || !strings.Contains(rs[1].Cause, "cancelled") {
		t.Errorf("declined record %+v", rs[1])
	}
	b, _ := os.ReadFile(HistoryPath(dir))
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("the history holds a sensitive value:\n%s", b)
	}
}

// A rollback that acts leaves a record naming its apply and how it ended;
// one refused (a target held) leaves none.
func TestRollbackAppendsHistory(t *testing.T) {
	dir := writeJournal(t, begin,
		executor.Entry{Kind: executor.KindIntent, Step: "step.drain.a", Type: "drain"},
		executor.Entry{Kind: executor.KindDone, Step: "step.drain.a", Type: "drain", Record: executor.Record(`{}`)},
		executor.Entry{Kind: executor.KindCommit})
	if _, err := Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), TargetLockDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	failing := writeJournal(t, begin,
		executor.Entry{Kind: executor.KindIntent, Step: "step.frob.a", Type: "frobnicate"},
		executor.Entry{Kind: executor.KindDone, Step: "step.frob.a", Type: "frobnicate", Record: executor.Record(`{"x":1}`)})
	if _, err := Rollback(context.Background(), failing, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), TargetLockDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, outcome, step, status string
		code                       int
	}{
		{dir, OutcomeFinished, "step.drain.a", "finished", 0},
		{failing, OutcomeRollbackIncomplete, "step.frob.a", "failed", 1},
	} {
		rs, err := ReadHistory(tc.dir)
		if err != nil || len(rs) != 1 {
			t.Fatalf("%+v, %v", rs, err)
		}
		r := rs[0]
		if r.Kind != KindRollback || r.ApplyID != begin.ApplyID || r.Outcome != tc.outcome || r.ExitCode != tc.code ||
			len(r.Steps) != 1 || r.Steps[0].Step != tc.step || r.Steps[0].Status != tc.status || r.ID == r.ApplyID {
			t.Errorf("record %+v", r)
		}
	}
}
