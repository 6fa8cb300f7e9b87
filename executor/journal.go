package executor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	KindUndo       = "undo"
	KindUndone     = "undone"
	KindUndoFailed = "undo_failed"
	KindEnd        = "end"
)

// Entry is one line of a journal.
type Entry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// Begin only.
	ApplyID  string `json:"apply_id,omitempty"`
	Plan     string `json:"plan,omitempty"`
	PlanHash string `json:"plan_hash,omitempty"`
	Host     string `json:"host,omitempty"`
	PID      int    `json:"pid,omitempty"`
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
// is what lets `plan rollback` finish the job after a crash.
type Journal struct {
	mu    sync.Mutex
	f     *os.File
	Path  string
	types map[string]string // step address → type
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
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &Journal{f: f, Path: path}, nil
}

// Append writes one entry and fsyncs it: once Append returns, the entry
// survives a crash of this process or the machine.
func (j *Journal) Append(e Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Type == "" && e.Step != "" && j.types != nil {
		e.Type = j.types[e.Step]
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the journal %s: %w", j.Path, err)
	}
	return j.f.Sync()
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }

// ReadJournal reads every entry of a journal. A torn last line (the process
// died mid-write) is ignored: the entry before it is the last that counts.
func ReadJournal(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			break
		}
		out = append(out, e)
	}
	return out, sc.Err()
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

// Summary is what a journal says about its apply.
type Summary struct {
	ApplyID, Plan string
	// Host and PID ran the apply.
	Host    string
	PID     int
	Started time.Time
	// Finished is false when the journal has no end entry: the process
	// died or was killed.
	Finished bool
	Result   string
	// Outstanding are steps whose changes may still be in place, in
	// completion order: done and not undone, or failed without cleaning
	// up after themselves (their failed entry carries a record).
	Outstanding []Entry
	// Interrupted are steps that started and never reported a result (the
	// process died mid-step), in start order. Each is the step's last
	// checkpoint entry, whose Record says what the step was changing, or
	// its intent entry (no Record) when it had changed nothing yet.
	Interrupted []Entry
}

// Summarize reads what a journal's entries say.
func Summarize(entries []Entry) Summary {
	var s Summary
	done := map[string]Entry{}
	var order []string
	open := map[string]Entry{}
	var started []string
	for _, e := range entries {
		switch e.Kind {
		case KindBegin:
			s.ApplyID, s.Plan, s.Started, s.Host, s.PID = e.ApplyID, e.Plan, e.Time, e.Host, e.PID
		case KindIntent:
			open[e.Step] = e
			started = append(started, e.Step)
		case KindCheckpoint:
			if _, ok := open[e.Step]; ok {
				open[e.Step] = e
			}
		case KindDone:
			delete(open, e.Step)
			done[e.Step] = e
			order = append(order, e.Step)
		case KindFailed:
			delete(open, e.Step)
			if len(e.Record) > 0 {
				done[e.Step] = e
				order = append(order, e.Step)
			}
		case KindUndone:
			delete(done, e.Step)
			delete(open, e.Step)
		case KindEnd:
			s.Finished, s.Result = true, e.Result
		}
	}
	if s.Finished && s.Result == "applied" {
		return s
	}
	seen := map[string]bool{}
	for _, st := range order {
		if e, ok := done[st]; ok && !seen[st] {
			seen[st] = true
			s.Outstanding = append(s.Outstanding, e)
		}
	}
	for _, st := range started {
		if e, ok := open[st]; ok && !seen[st] {
			seen[st] = true
			s.Interrupted = append(s.Interrupted, e)
		}
	}
	return s
}

// Left names the steps whose changes may still be in place: outstanding,
// then interrupted.
func (s Summary) Left() []string {
	var out []string
	for _, e := range s.Outstanding {
		out = append(out, e.Step)
	}
	for _, e := range s.Interrupted {
		out = append(out, e.Step+" (interrupted mid-step)")
	}
	return out
}

// NeedsRollback reports whether the apply left changes that nobody undid.
// A journal without an end entry always does: the process died, and only
// `plan rollback` can tell (and record) that nothing was left.
func (s Summary) NeedsRollback() bool {
	if s.Finished && (s.Result == "applied" || strings.HasPrefix(s.Result, "failed, nothing") || s.Result == "failed, rolled back" || s.Result == "rolled back") {
		return false
	}
	return len(s.Outstanding) > 0 || len(s.Interrupted) > 0 || !s.Finished
}

// ErrNoJournal is returned when there is no apply to look at.
var ErrNoJournal = errors.New("no apply has been recorded for this plan")
