// This file holds the journal: an append-only, fsynced log of one apply,
// written one JSON line per event, and the rules for reading it back. A
// record that cannot be written is an error the walk acts on (the change
// it was to record does not start); a journal that cannot be read, beyond a
// torn last line, is an error too: nothing acts on a journal it cannot
// trust.
package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Journal entry kinds. They are stored on disk, so they never change.
const (
	KindBegin  = "begin"
	KindIntent = "intent"
	// KindCheckpoint is written by a step right before it changes
	// anything, with the record its undo needs should the step never
	// finish (the process killed mid-step). Steps that change nothing
	// write none.
	KindCheckpoint = "checkpoint"
	KindDone       = "done"
	KindFailed     = "failed"
	// KindCommit is written once every step is done, before anything is
	// finalized: from here on, recovery finishes the apply (Finish)
	// instead of undoing it.
	KindCommit = "commit"
	// KindFinalized is written after a step's finalizer succeeded.
	KindFinalized  = "finalized"
	KindUndo       = "undo"
	KindUndone     = "undone"
	KindUndoFailed = "undo_failed"
	KindEnd        = "end"
)

var knownKinds = map[string]bool{KindBegin: true, KindIntent: true, KindCheckpoint: true, KindDone: true, KindFailed: true,
	KindCommit: true, KindFinalized: true, KindUndo: true, KindUndone: true, KindUndoFailed: true, KindEnd: true}

// JournalVersion is the format this binary writes, in the begin entry.
// Version 2 added the commit and finalized records; a journal without a
// version (1) reads the same, without them. A newer version is refused:
// this binary cannot know what its records mean.
const JournalVersion = 2

// Results of an apply or rollback, in end entries.
const (
	ResultApplied = "applied"
)

// Entry is one line of a journal.
type Entry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// Begin only.
	Version  int    `json:"version,omitempty"`
	ApplyID  string `json:"apply_id,omitempty"`
	Plan     string `json:"plan,omitempty"`
	PlanHash string `json:"plan_hash,omitempty"`
	Host     string `json:"host,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// Targets are what the apply changes (see LockTargets), so a rollback
	// locks them too without the plan.
	Targets []string `json:"targets,omitempty"`
	// Step entries.
	Step string `json:"step,omitempty"`
	// Type is the step type, so an undo can be rebuilt from the record
	// alone, without the plan.
	Type string `json:"type,omitempty"`
	// Record is what undoing the step needs: on done (and on failed, when
	// the step could not clean up after itself) the step's result; on
	// checkpoint, what the step is about to change.
	Record Record `json:"record,omitempty"`
	Error  string `json:"error,omitempty"`
	// End only.
	Result string `json:"result,omitempty"`
}

// Journal is an append-only, fsynced log of one apply: each step's intent
// before it acts and its result after, with the record its undo needs. It
// is what lets `plan rollback` finish the job after a crash. A nil
// *Journal records nothing.
type Journal struct {
	mu    sync.Mutex
	f     *os.File
	Path  string
	types map[string]string // step address → type
	n     int               // records written through this value
	// Redact, when set, is applied to every error text before it is
	// written: sensitive values never reach the disk.
	Redact func(string) string
	// Mirror, when set, is given each record (without its newline) once
	// it is on the local disk, and Append fails if Mirror does: with
	// shared state (SharedLock.Append) a record counts only once the
	// target has it, so no change starts that another runner could not
	// see and undo.
	Mirror func(line []byte) error
	// AfterRecord, when set, is called after the n-th record written
	// through this value is on disk (n counts from 1). Tests use it to
	// stop the process at an exact record; see cmd/plan.
	AfterRecord func(n int)
}

// StateDir is where apply keeps its lock and journals, next to the plan.
const StateDir = ".nonstop"

// CreateJournal starts the journal of a new apply in dir/applies.
func CreateJournal(dir, applyID string, types map[string]string) (*Journal, error) {
	d := filepath.Join(dir, "applies")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("creating the journal folder: %w", err)
	}
	p := filepath.Join(d, applyID+".jsonl")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the journal: %w", err)
	}
	return &Journal{f: f, Path: p, types: types}, nil
}

// OpenJournal reopens an existing journal to append to it (plan rollback).
// A torn last line (its writer died mid-write; ReadJournal ignores it) is
// cut off first, so the next record starts on a line of its own.
func OpenJournal(path string) (*Journal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		if err := os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1)); err != nil {
			return nil, fmt.Errorf("cutting the torn last line of %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &Journal{f: f, Path: path}, nil
}

// Append writes one entry and fsyncs it: once Append returns nil, the entry
// survives a crash of this process or the machine. On a nil Journal it
// does nothing.
func (j *Journal) Append(e Entry) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Kind == KindBegin && e.Version == 0 {
		e.Version = JournalVersion
	}
	if e.Type == "" && e.Step != "" && j.types != nil {
		e.Type = j.types[e.Step]
	}
	if j.Redact != nil && e.Error != "" {
		e.Error = j.Redact(e.Error)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("writing the journal %s: %w", j.Path, err)
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the journal %s: %w", j.Path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("writing the journal %s (fsync): %w", j.Path, err)
	}
	if j.Mirror != nil {
		if err := j.Mirror(b); err != nil {
			return fmt.Errorf("writing the journal %s to the shared state: %w", filepath.Base(j.Path), err)
		}
	}
	j.n++
	if j.AfterRecord != nil {
		j.AfterRecord(j.n)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	return j.f.Close()
}

// JournalError says a journal cannot be trusted, and where.
type JournalError struct {
	Path string
	Line int // 0 when not about one line
	Err  error
}

// Error names the journal and the line, and what to do: look at it.
func (e *JournalError) Error() string {
	at := ""
	if e.Line > 0 {
		at = fmt.Sprintf(" at line %d", e.Line)
	}
	return fmt.Sprintf("the journal %s cannot be read%s: %s. Nothing was done: inspect it (one JSON object per line) and the state of the containers and nginx it names before going on", e.Path, at, e.Err)
}

// Unwrap exposes the cause.
func (e *JournalError) Unwrap() error { return e.Err }

// ReadJournal reads every entry of a journal. Only a torn last line (no
// newline at its end: its writer died mid-write, and Append had not
// returned, so nothing relied on it) is ignored. Anything else that is not
// a well-formed entry in order (a line that does not decode, an unknown
// kind, a first entry that is not begin, a newer format) is a
// *JournalError.
func ReadJournal(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1] // without a torn last line
	var out []Entry
	if len(b) == 0 {
		return out, nil // created, and killed before its first record
	}
	for n, line := range bytes.Split(b[:len(b)-1], []byte("\n")) {
		bad := func(format string, args ...any) ([]Entry, error) {
			return nil, &JournalError{Path: path, Line: n + 1, Err: fmt.Errorf(format, args...)}
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return bad("not a journal entry: %v", err)
		}
		switch {
		case !knownKinds[e.Kind]:
			return bad("unknown entry kind %q", e.Kind)
		case len(out) == 0 && e.Kind != KindBegin:
			return bad("the first entry is %q, not %q", e.Kind, KindBegin)
		case len(out) > 0 && e.Kind == KindBegin:
			return bad("a second %q entry", KindBegin)
		case e.Kind == KindBegin && e.Version > JournalVersion:
			return bad("it was written by a newer plan (journal version %d; this one reads up to %d): use that version", e.Version, JournalVersion)
		}
		out = append(out, e)
	}
	return out, nil
}

// LastJournal returns the path of the newest journal in dir, or "".
func LastJournal(dir string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "applies", "*.jsonl"))
	if err != nil || len(names) == 0 {
		return "", err
	}
	sort.Strings(names) // apply IDs start with a UTC timestamp
	return names[len(names)-1], nil
}

// ErrNoJournal is returned when there is no apply to look at.
var ErrNoJournal = errors.New("no apply has been recorded for this plan")
