package runner

// This file tests the runner's side of shared state with an in-memory
// SharedState (the real one, through an engine, is tested in
// internal/targetstate and internal/e2e): a rollback started with an
// empty local folder finds the journal the target holds, takes over the
// lock of a holder that is gone, and writes its records and history back
// to the target; a live holder is refused before anything is read.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/steps"
)

// memShared is a SharedState in memory: files by name, and a lock.
type memShared struct {
	mu     sync.Mutex
	files  map[string][]byte
	holder *executor.LockInfo
	alive  bool
	pulls  int
	// targets are the target locks taken through the lock.
	targets []string
}

func (m *memShared) String() string { return "memory" }

func (m *memShared) Pull(_ context.Context, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pulls++
	_ = os.RemoveAll(filepath.Join(dir, "applies"))
	if err := os.MkdirAll(filepath.Join(dir, "applies"), 0o700); err != nil {
		return err
	}
	for name, b := range m.files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (m *memShared) Lock(_ context.Context, info executor.LockInfo, _ time.Duration, takeOver bool) (executor.SharedLock, *executor.LockInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var stale *executor.LockInfo
	if m.holder != nil {
		if m.alive || !takeOver {
			return nil, nil, &executor.LockError{Holder: *m.holder, Stale: !m.alive}
		}
		stale = m.holder
	}
	m.holder, m.alive = &info, true
	return &memLock{m: m, id: info.ID}, stale, nil
}

func (m *memShared) Holder(context.Context) (executor.LockInfo, bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder == nil {
		return executor.LockInfo{}, false, false, nil
	}
	return *m.holder, m.alive, true, nil
}

func (m *memShared) Unlock(context.Context, string) error { return errors.New("not used") }

type memLock struct {
	m  *memShared
	id string
}

func (l *memLock) Append(_ context.Context, name string, line []byte) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.m.files[name] = append(append(l.m.files[name], line...), '\n')
	return nil
}

func (l *memLock) Alive() bool { return true }

func (l *memLock) LockTargets(_ context.Context, targets []string, _ executor.LockInfo, _ time.Duration) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.m.targets = append(l.m.targets, targets...)
	return nil
}

func (l *memLock) Release(context.Context) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.m.holder != nil && l.m.holder.ID == l.id {
		l.m.holder = nil
	}
	return nil
}

// journalLines encodes entries as a journal file.
func journalLines(t *testing.T, entries ...executor.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

func TestRollbackFromSharedState(t *testing.T) {
	gone := executor.LockInfo{ID: begin.ApplyID, PID: 4242, Host: "runner-a"}
	withTargets := begin
	withTargets.Targets = []string{"container a"}
	sh := &memShared{files: map[string][]byte{"applies/" + begin.ApplyID + ".jsonl": journalLines(t, withTargets,
		executor.Entry{Kind: executor.KindIntent, Step: "step.frob.a", Type: "frobnicate"},
		executor.Entry{Kind: executor.KindDone, Step: "step.frob.a", Type: "frobnicate", Record: executor.Record(`{"x":1}`)})},
		holder: &gone}
	dir := filepath.Join(t.TempDir(), executor.StateDir, "shared") // a fresh checkout: nothing local
	res, err := Rollback(context.Background(), dir, RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), Shared: sh, TargetLockDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.ApplyID != begin.ApplyID || res.StaleLock == nil || res.StaleLock.Host != "runner-a" {
		t.Fatalf("rollback %+v: want the target's apply, and the lock runner-a left taken over", res)
	}
	// The unknown type fails its undo; what matters here is that the
	// records of this rollback reached the target, not only the copy.
	target := string(sh.files["applies/"+begin.ApplyID+".jsonl"])
	if !strings.Contains(target, `"kind":"undo_failed"`) || !strings.Contains(target, `"kind":"end"`) {
		t.Errorf("the target's journal lacks this rollback's records:\n%s", target)
	}
	local, _ := os.ReadFile(filepath.Join(dir, "applies", begin.ApplyID+".jsonl"))
	if string(local) != target {
		t.Errorf("the local copy differs from the target's journal:\nlocal:\n%s\ntarget:\n%s", local, target)
	}
	if h := string(sh.files[HistoryFile]); !strings.Contains(h, `"kind":"rollback"`) || !strings.Contains(h, begin.ApplyID) {
		t.Errorf("the target's history lacks the rollback: %q", h)
	}
	if sh.holder != nil {
		t.Errorf("the shared lock is still held by %+v", sh.holder)
	}
	if len(sh.targets) != 1 || sh.targets[0] != "container a" {
		t.Errorf("target locks taken on the target: %v, want the journal's [container a]", sh.targets)
	}
	if _, err := os.Stat(filepath.Join(dir, "lock.json")); !os.IsNotExist(err) {
		t.Errorf("a local lock was written next to the shared state's copy: %v", err)
	}
}

// A live holder on the target is refused before anything is pulled.
func TestRollbackRefusedWhileSharedLockHeld(t *testing.T) {
	sh := &memShared{files: map[string][]byte{}, holder: &executor.LockInfo{ID: "x", PID: 1, Host: "runner-a"}, alive: true}
	_, err := Rollback(context.Background(), t.TempDir(), RollbackOptions{Steps: steps.Builtin(), Log: zerolog.Nop(), Shared: sh})
	var le *executor.LockError
	if !errors.As(err, &le) || le.Stale || le.Holder.Host != "runner-a" {
		t.Fatalf("error %v, want the live holder on runner-a", err)
	}
	if sh.pulls != 0 {
		t.Errorf("pulled %d times while another runner holds the lock", sh.pulls)
	}
}

// Home.Snapshot of shared state reads the target's lock and files into a
// folder of its own, never the local copy.
func TestSnapshotOfSharedState(t *testing.T) {
	sh := &memShared{files: map[string][]byte{HistoryFile: []byte("{}\n")}, holder: &executor.LockInfo{ID: "x", Host: "runner-a"}}
	home := &Home{Dir: filepath.Join(t.TempDir(), "shared"), Shared: sh}
	snap, done, err := home.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Dir == home.Dir || snap.Lock == nil || snap.Lock.Host != "runner-a" || snap.LockAlive {
		t.Errorf("snapshot %+v", snap)
	}
	if b, _ := os.ReadFile(filepath.Join(snap.Dir, HistoryFile)); string(b) != "{}\n" {
		t.Errorf("history %q", b)
	}
	done()
	if _, err := os.Stat(snap.Dir); !os.IsNotExist(err) {
		t.Errorf("the snapshot's folder is still there: %v", err)
	}
	if _, err := os.Stat(home.Dir); !os.IsNotExist(err) {
		t.Errorf("the snapshot wrote the local copy: %v", err)
	}
}
