package executor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A step killed after its checkpoint is interrupted with the checkpoint's
// record; one killed before it, with none (it changed nothing); a step that
// failed without cleaning up (its failed entry has a record) is outstanding;
// undone steps are neither.
func TestSummarizeCheckpointsAndFailures(t *testing.T) {
	rec := func(s string) Record { return json.RawMessage(s) }
	entries := []Entry{
		{Kind: KindBegin, ApplyID: "id", Host: "h", PID: 42},
		{Kind: KindIntent, Step: "a", Type: "drain"},
		{Kind: KindCheckpoint, Step: "a", Type: "drain", Record: rec(`{"cp":"a"}`)},
		{Kind: KindDone, Step: "a", Type: "drain", Record: rec(`{"done":"a"}`)},
		{Kind: KindIntent, Step: "b", Type: "deploy"},
		{Kind: KindCheckpoint, Step: "b", Type: "deploy", Record: rec(`{"cp":"b"}`)},
		{Kind: KindFailed, Step: "b", Type: "deploy", Error: "x", Record: rec(`{"left":"b"}`)},
		{Kind: KindIntent, Step: "c", Type: "deploy"},
		{Kind: KindCheckpoint, Step: "c", Type: "deploy", Record: rec(`{"cp":"c1"}`)},
		{Kind: KindCheckpoint, Step: "c", Type: "deploy", Record: rec(`{"cp":"c2"}`)},
		{Kind: KindIntent, Step: "d", Type: "health_check"},
		{Kind: KindIntent, Step: "e", Type: "drain"},
		{Kind: KindCheckpoint, Step: "e", Type: "drain", Record: rec(`{"cp":"e"}`)},
		{Kind: KindUndo, Step: "e"},
		{Kind: KindUndone, Step: "e"},
	}
	s := Summarize(entries)
	if s.Host != "h" || s.PID != 42 || s.ApplyID != "id" || s.Finished || !s.NeedsRollback() {
		t.Fatalf("summary header %+v", s)
	}
	if len(s.Outstanding) != 2 || s.Outstanding[0].Step != "a" || string(s.Outstanding[0].Record) != `{"done":"a"}` ||
		s.Outstanding[1].Step != "b" || string(s.Outstanding[1].Record) != `{"left":"b"}` {
		t.Fatalf("outstanding %+v", s.Outstanding)
	}
	if len(s.Interrupted) != 2 || s.Interrupted[0].Step != "c" || string(s.Interrupted[0].Record) != `{"cp":"c2"}` ||
		s.Interrupted[1].Step != "d" || s.Interrupted[1].Record != nil {
		t.Fatalf("interrupted %+v", s.Interrupted)
	}
	// A clean failure (no record) leaves nothing.
	s = Summarize([]Entry{{Kind: KindBegin}, {Kind: KindIntent, Step: "a"}, {Kind: KindFailed, Step: "a"}, {Kind: KindEnd, Result: "failed, nothing changed"}})
	if s.NeedsRollback() || len(s.Outstanding)+len(s.Interrupted) != 0 {
		t.Fatalf("clean failure: %+v", s)
	}
}

// The lock, its info file, the state folder and every journal are private
// to the user running plan: they name hosts, containers and paths.
func TestStateFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0) // the modes must not rely on the user's umask
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), StateDir)
	l, err := Acquire(dir, LockInfo{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := CreateJournal(dir, "20260101T000000Z-abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Append(Entry{Kind: KindBegin})
	j.Close()
	for path, want := range map[string]os.FileMode{
		dir:                             0o700,
		filepath.Join(dir, "applies"):   0o700,
		filepath.Join(dir, "lock"):      0o600,
		filepath.Join(dir, "lock.json"): 0o600,
		j.Path:                          0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	_ = l.Release()
}
