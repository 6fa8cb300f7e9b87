// This file holds the history of a plan's applies and rollbacks: one JSON
// record per line in history.jsonl in the state folder, appended (and
// fsynced) at the end of every apply and rollback, never rewritten or
// pruned. The journals say what each step did, for rollback; the history
// answers "who deployed what, from which commit, and how did it go", one
// line per run.
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// HistoryFile is the history's name in the state folder.
const HistoryFile = "history.jsonl"

// HistoryVersion is the record format this binary writes; a newer one is
// refused on read (this binary cannot know what its fields mean).
const HistoryVersion = 1

// Kinds of history records.
const (
	KindApply    = "apply"
	KindRollback = "rollback"
)

// Outcomes of a history record.
const (
	OutcomeApplied            = "applied"
	OutcomeNothingToDo        = "nothing_to_do"
	OutcomeFailed             = "failed" // before any change
	OutcomeCancelled          = "cancelled"
	OutcomeRolledBack         = "rolled_back"
	OutcomeRollbackIncomplete = "rollback_incomplete"
	// OutcomeFinished is a rollback of an apply that had committed: it was
	// rolled forward (finished), not undone.
	OutcomeFinished = "finished"
)

// HistoryRecord is one apply or rollback. Fields are stored on disk: they
// are only ever added.
type HistoryRecord struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	// ApplyID is, for a rollback, the apply it rolled back (or finished).
	ApplyID  string    `json:"apply_id,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	User     string    `json:"user,omitempty"`
	Host     string    `json:"host,omitempty"`
	Plan     string    `json:"plan,omitempty"`
	PlanHash string    `json:"plan_hash,omitempty"`
	// Git is the commit the plan's folder was at; nil outside a git tree.
	Git       *GitInfo      `json:"git,omitempty"`
	Variables []HistoryVar  `json:"variables,omitempty"`
	Images    []ImageChange `json:"images,omitempty"`
	Outcome   string        `json:"outcome"`
	ExitCode  int           `json:"exit_code"`
	// Cause is why it failed, sensitive values hidden.
	Cause string        `json:"cause,omitempty"`
	Steps []HistoryStep `json:"steps,omitempty"`
	Watch []WatchCount  `json:"watch,omitempty"`
}

// Duration is how long the apply or rollback took.
func (r HistoryRecord) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// GitInfo is where the plan's source was.
type GitInfo struct {
	Commit string `json:"commit"`
	// Dirty: the work tree had changes not committed (the state folder
	// aside), so Commit alone does not say what was applied.
	Dirty bool `json:"dirty"`
}

// HistoryVar is a plan variable as it was applied; a sensitive one has
// Value Hidden, never its value.
type HistoryVar struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// ImageChange is what a step that replaced a container recorded in the
// journal: the image before (the old container's, by name and ID; journals
// of earlier versions hold only the old container's ID) and after (by
// digest).
type ImageChange struct {
	Step         string `json:"step"`
	Container    string `json:"container,omitempty"`
	OldContainer string `json:"old_container_id,omitempty"`
	OldImage     string `json:"old_image,omitempty"`
	OldImageID   string `json:"old_image_id,omitempty"`
	Image        string `json:"image,omitempty"`
	ImageDigest  string `json:"image_digest,omitempty"`
	// Undone: the change was rolled back, so the container runs its old
	// image again.
	Undone bool `json:"undone,omitempty"`
}

// HistoryStep is one step's end status and time.
type HistoryStep struct {
	Step     string  `json:"step"`
	Status   string  `json:"status"`
	ElapsedS float64 `json:"elapsed_s,omitempty"`
}

// WatchCount is one -watch URL's traffic during the steps.
type WatchCount struct {
	URL      string `json:"url"`
	Requests int    `json:"requests"`
	Failed   int    `json:"failed"`
}

// HistoryPath is the history file of a state folder.
func HistoryPath(stateDir string) string { return filepath.Join(stateDir, HistoryFile) }

// AppendHistory writes one record at the end of the state folder's
// history, in one write, and fsyncs it. A torn last line left by a writer
// that died is cut off first, so the record starts on a line of its own.
func AppendHistory(stateDir string, r HistoryRecord) error {
	_, err := appendHistory(stateDir, r)
	return err
}

// appendHistory is AppendHistory, returning the line written (without its
// newline) for the shared state's copy.
func appendHistory(stateDir string, r HistoryRecord) ([]byte, error) {
	if r.Version == 0 {
		r.Version = HistoryVersion
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return b, writeHistoryLine(stateDir, b)
}

// writeHistoryLine appends b and a newline to the history, fsynced.
func writeHistoryLine(stateDir string, b []byte) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	path := HistoryPath(stateDir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, info.Size()-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			old, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := f.Truncate(int64(bytes.LastIndexByte(old, '\n') + 1)); err != nil {
				return fmt.Errorf("cutting the torn last line of %s: %w", path, err)
			}
		}
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

// HistoryError is a history file that cannot be read, with the line.
type HistoryError struct {
	Path string
	Line int
	Err  error
}

func (e *HistoryError) Error() string {
	at := ""
	if e.Line > 0 {
		at = fmt.Sprintf(" at line %d", e.Line)
	}
	return fmt.Sprintf("the history %s cannot be read%s: %s (one JSON object per line; fix or move that line)", e.Path, at, e.Err)
}

// Unwrap exposes the cause.
func (e *HistoryError) Unwrap() error { return e.Err }

// ReadHistory reads every record of a state folder's history, oldest
// first; no file is no records. As for the journal, only a torn last line
// (no newline at its end: its writer died mid-write) is ignored; any other
// line that is not a record is a *HistoryError naming it.
func ReadHistory(stateDir string) ([]HistoryRecord, error) {
	path := HistoryPath(stateDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &HistoryError{Path: path, Err: err}
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []HistoryRecord
	if len(b) == 0 {
		return out, nil
	}
	for n, line := range bytes.Split(b[:len(b)-1], []byte("\n")) {
		bad := func(format string, args ...any) ([]HistoryRecord, error) {
			return nil, &HistoryError{Path: path, Line: n + 1, Err: fmt.Errorf(format, args...)}
		}
		var r HistoryRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return bad("not a history record: %v", err)
		}
		switch {
		case r.Version > HistoryVersion:
			return bad("it was written by a newer plan (history version %d; this one reads up to %d): use that version", r.Version, HistoryVersion)
		case r.ID == "" || (r.Kind != KindApply && r.Kind != KindRollback):
			return bad("not a history record: no id, or kind %q is neither %q nor %q", r.Kind, KindApply, KindRollback)
		}
		out = append(out, r)
	}
	return out, nil
}

// FindHistory returns the record whose ID is id or starts with it; a
// prefix that matches more than one is an error listing them.
func FindHistory(records []HistoryRecord, id string) (*HistoryRecord, error) {
	var found []int
	for i := range records {
		if records[i].ID == id {
			return &records[i], nil
		}
		if id != "" && strings.HasPrefix(records[i].ID, id) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no apply or rollback %q in the history", id)
	case 1:
		return &records[found[0]], nil
	}
	var ids []string
	for _, i := range found {
		ids = append(ids, records[i].ID)
	}
	return nil, fmt.Errorf("%q matches %d records (%s): give more of the ID", id, len(found), strings.Join(ids, ", "))
}

// gitTimeout bounds each git command: history must not hang an apply.
const gitTimeout = 3 * time.Second

// gitInfo is the commit of the git tree holding dir, and whether it had
// changes outside the state folder; nil when dir is in no git tree (or git
// is missing or slow).
func gitInfo(dir, stateDir string) *GitInfo {
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), gitTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		return string(out), err
	}
	head, err := run("rev-parse", "HEAD")
	if err != nil {
		return nil
	}
	g := &GitInfo{Commit: strings.TrimSpace(head)}
	args := []string{"status", "--porcelain", "--", ":(top)"}
	if rel, err := filepath.Rel(dir, stateDir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") && filepath.IsAbs(stateDir) == filepath.IsAbs(dir) {
		args = append(args, ":(exclude)"+rel)
	}
	st, err := run(args...)
	if err != nil {
		st, err = run("status", "--porcelain")
	}
	g.Dirty = err != nil || strings.TrimSpace(st) != ""
	return g
}

// currentUser is who runs plan: the account name, else $USER.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// planDir is the folder of a plan path (the path itself when a folder).
func planDir(path string) string {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return path
	}
	return filepath.Dir(path)
}

// historyVars are a plan's variables as applied, sensitive ones hidden:
// dsl already renders them Hidden; the redactor is the second lock.
func historyVars(p *dsl.Plan, red *Redactor) []HistoryVar {
	var out []HistoryVar
	for _, v := range p.Variables {
		hv := HistoryVar{Name: v.Name, Value: red.String(v.Value), Source: v.Source, Sensitive: v.Sensitive}
		if v.Sensitive {
			hv.Value = Hidden
		}
		out = append(out, hv)
	}
	return out
}

// imageRecord is the part of a journal record that names an image: any
// step type whose record has these fields (deploy's does) is listed.
type imageRecord struct {
	Replacement struct {
		Name  string `json:"name"`
		OldID string `json:"old_id"`
	} `json:"replacement"`
	Image       string `json:"image"`
	ImageDigest string `json:"image_digest"`
	OldImage    string `json:"old_image"`
	OldImageID  string `json:"old_image_id"`
}

// journalImages lists the images the journal's done steps put in place,
// each marked undone when the journal records its undo.
func journalImages(entries []executor.Entry) []ImageChange {
	var out []ImageChange
	at := map[string]int{}
	for _, e := range entries {
		switch e.Kind {
		case executor.KindDone:
			var r imageRecord
			if len(e.Record) == 0 || json.Unmarshal(e.Record, &r) != nil || (r.Image == "" && r.ImageDigest == "") {
				continue
			}
			at[e.Step] = len(out)
			out = append(out, ImageChange{Step: e.Step, Container: r.Replacement.Name, OldContainer: r.Replacement.OldID,
				OldImage: r.OldImage, OldImageID: r.OldImageID, Image: r.Image, ImageDigest: r.ImageDigest})
		case executor.KindUndone:
			if i, ok := at[e.Step]; ok {
				out[i].Undone = true
			}
		}
	}
	return out
}

// applyOutcome names an apply's exit code.
func applyOutcome(code int) string {
	switch code {
	case executor.ExitApplied:
		return OutcomeApplied
	case executor.ExitNoChange:
		return OutcomeFailed
	case executor.ExitRolledBack:
		return OutcomeRolledBack
	}
	return OutcomeRollbackIncomplete
}

// applyRecord starts an apply's record with what is known before it runs:
// who, where, from which commit, with which variables.
func applyRecord(p *dsl.Plan, stateDir, id, host, hash string, t0 time.Time, red *Redactor) HistoryRecord {
	abs, _ := filepath.Abs(stateDir)
	dir, _ := filepath.Abs(planDir(p.Path))
	return HistoryRecord{ID: id, Kind: KindApply, Started: t0.UTC(), User: currentUser(), Host: host, Plan: p.Path,
		PlanHash: hash, Git: gitInfo(dir, abs), Variables: historyVars(p, red)}
}

// recordApply completes an apply's record from its result (or the error
// that stopped it before any change) and appends it. A history that
// cannot be written is logged, not fatal: the apply is done either way.
func recordApply(stateDir string, shared *sharedHold, rec HistoryRecord, res *Result, err error, o Options) {
	rec.Finished = time.Now().UTC()
	if o.Watch != nil {
		rec.Watch = o.Watch()
	}
	switch {
	case err != nil:
		rec.Outcome, rec.ExitCode, rec.Cause = OutcomeFailed, executor.ExitNoChange, o.Redact.String(err.Error())
		if errors.Is(err, ErrAborted) {
			rec.Outcome = OutcomeCancelled
		}
	case res == nil:
		return
	default:
		out := res.Outcome
		rec.Outcome, rec.ExitCode = applyOutcome(out.Code), out.Code
		if res.NothingToDo {
			rec.Outcome = OutcomeNothingToDo
		}
		if out.Cause != nil {
			rec.Cause = o.Redact.String(out.Cause.Error())
		}
		for i, s := range res.Graph.Steps {
			rec.Steps = append(rec.Steps, HistoryStep{Step: s.Addr, Status: string(out.Status[i]), ElapsedS: out.Elapsed[i].Seconds()})
		}
		if res.Journal != "" {
			if entries, jerr := executor.ReadJournal(res.Journal); jerr == nil {
				rec.Images = journalImages(entries)
			}
		}
	}
	if werr := recordHistory(stateDir, shared, rec); werr != nil {
		o.Log.Warn().Err(werr).Msg("the history record of this apply could not be written")
	}
}

// recordRollback appends a rollback's record: what it undid or finished,
// for which apply, with that apply's plan hash and journal's images.
func recordRollback(stateDir, journal string, shared *sharedHold, rec HistoryRecord, s *executor.Summary, res *RollbackResult, o RollbackOptions) {
	rec.Finished = time.Now().UTC()
	rec.ApplyID, rec.Plan = res.ApplyID, s.Plan
	entries, jerr := executor.ReadJournal(journal)
	if jerr == nil && len(entries) > 0 {
		rec.PlanHash = entries[0].PlanHash
		rec.Images = journalImages(entries)
	}
	if s.Plan != "" {
		abs, _ := filepath.Abs(stateDir)
		dir, _ := filepath.Abs(planDir(s.Plan))
		rec.Git = gitInfo(dir, abs)
	}
	for _, st := range res.Undone {
		rec.Steps = append(rec.Steps, HistoryStep{Step: st, Status: "undone"})
	}
	for _, st := range res.Unchanged {
		rec.Steps = append(rec.Steps, HistoryStep{Step: st, Status: "unchanged"})
	}
	for _, st := range res.Finished {
		rec.Steps = append(rec.Steps, HistoryStep{Step: st, Status: "finished"})
	}
	for _, st := range slices.Sorted(maps.Keys(res.Failed)) {
		rec.Steps = append(rec.Steps, HistoryStep{Step: st, Status: "failed"})
		if rec.Cause == "" {
			rec.Cause = st + ": " + res.Failed[st].Error()
		}
	}
	for _, st := range res.Left {
		rec.Steps = append(rec.Steps, HistoryStep{Step: st, Status: "left"})
	}
	switch {
	case !res.Complete():
		rec.Outcome, rec.ExitCode = OutcomeRollbackIncomplete, 1
	case res.Committed:
		rec.Outcome = OutcomeFinished
	default:
		rec.Outcome = OutcomeRolledBack
	}
	if werr := recordHistory(stateDir, shared, rec); werr != nil {
		o.Log.Warn().Err(werr).Msg("the history record of this rollback could not be written")
	}
}

// recordHistory appends a record to the history, and to the shared
// state's when there is one.
func recordHistory(stateDir string, shared *sharedHold, rec HistoryRecord) error {
	line, err := appendHistory(stateDir, rec)
	if err != nil {
		return err
	}
	return shared.append(HistoryFile, line)
}
