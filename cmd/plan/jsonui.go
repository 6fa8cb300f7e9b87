// This file holds the machine-readable UI of -json (apply, rollback,
// status): one JSON message per line on stdout, after Terraform's
// machine-readable UI, so tools that read `terraform apply -json` read
// plan's with the same loop.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/internal/runner"
)

// jsonUIVersion is the stream's version ("ui" in the version message), as
// Terraform's: a minor bump adds message types or fields, a major one
// changes or removes them.
const jsonUIVersion = "1.0"

// jsonTimestamp is Terraform's @timestamp layout (microseconds, zone).
const jsonTimestamp = "2006-01-02T15:04:05.000000Z07:00"

// Message types of the stream (the "type" key); docs/cli.md lists each
// with its fields.
const (
	msgVersion          = "version"
	msgDiagnostic       = "diagnostic"
	msgLog              = "log"
	msgApplyStart       = "apply_start"
	msgApplyProgress    = "apply_progress"
	msgApplyComplete    = "apply_complete"
	msgApplyErrored     = "apply_errored"
	msgApplyCommitted   = "apply_committed"
	msgApplySummary     = "apply_summary"
	msgRollbackStart    = "rollback_start"
	msgRollbackProgress = "rollback_progress"
	msgRollbackComplete = "rollback_complete"
	msgRollbackErrored  = "rollback_errored"
	msgRollbackSummary  = "rollback_summary"
	msgWatchSummary     = "watch_summary"
	msgPlannedChange    = "planned_change"
	msgStatus           = "status"
	msgHistoryRecord    = "history_record"
)

// jsonView writes the stream. Every message goes through message, which
// holds the lock (events come from the executor's goroutines) and stamps
// @level, @message, @module and @timestamp. Text that may quote a
// sensitive value passes through red (nil: nothing to hide).
type jsonView struct {
	mu  sync.Mutex
	w   io.Writer
	red *runner.Redactor
	// files are the plan's sources, for diagnostic snippets.
	files map[string]*hcl.File
	// rolling is set by the rollback's start: from then on a step's
	// notes are about its undo.
	rolling bool
}

// newJSONView starts a stream on w with its version message.
func newJSONView(w io.Writer) *jsonView {
	v := &jsonView{w: w}
	v.message("info", msgVersion, "plan "+version, time.Time{}, map[string]any{"plan": version, "ui": jsonUIVersion})
	return v
}

// message writes one line. at is the time the message is about (an
// event's own time); zero means now.
func (v *jsonView) message(level, typ, msg string, at time.Time, fields map[string]any) {
	if at.IsZero() {
		at = time.Now()
	}
	m := map[string]any{
		"@level":     level,
		"@message":   v.red.String(msg),
		"@module":    "plan.ui",
		"@timestamp": at.Format(jsonTimestamp),
		"type":       typ,
	}
	for k, x := range fields {
		m[k] = x
	}
	b, err := json.Marshal(m)
	if err != nil { // only plain values go in: a bug, said in the stream
		b, _ = json.Marshal(map[string]any{"@level": "error", "@message": "encoding a message: " + err.Error(),
			"@module": "plan.ui", "@timestamp": at.Format(jsonTimestamp), "type": msgLog})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, _ = v.w.Write(append(b, '\n'))
}

// log writes a plain line for a person, as Terraform's "log" messages.
func (v *jsonView) log(level, msg string) { v.message(level, msgLog, msg, time.Time{}, nil) }

// hook is Terraform's "hook" object, about one step.
type hook struct {
	Step   string  `json:"step"`
	Action string  `json:"action"` // "apply" or "rollback"
	Status string  `json:"status,omitempty"`
	Note   string  `json:"note,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Secs   float64 `json:"elapsed_seconds"`
}

// event is the executor's event callback: each event becomes one message.
func (v *jsonView) event(e executor.Event) {
	v.mu.Lock()
	if e.Type == executor.EventRollback {
		v.rolling = true
	}
	rolling := v.rolling
	v.mu.Unlock()
	action := "apply"
	if rolling {
		action = "rollback"
	}
	h := hook{Step: e.Step, Action: action, Secs: e.Elapsed}
	level, typ, msg := "info", "", ""
	switch e.Type {
	case executor.EventRollback:
		level, typ, msg = "warn", msgRollbackStart, e.Message
	case executor.EventCommit:
		typ, msg = msgApplyCommitted, e.Message
	case executor.EventWarning:
		level, typ, msg = "warn", msgApplyProgress, "Warning: "+e.Message
	case executor.EventNote:
		typ, msg, h.Note = msgApplyProgress, e.Step+": "+e.Message, e.Message
		if rolling {
			typ = msgRollbackProgress
		}
	case executor.EventStep:
		h.Action, h.Status, h.Reason = "apply", string(e.Status), e.Message
		after := fmt.Sprintf(" after %.1fs", e.Elapsed)
		switch e.Status {
		case executor.Running:
			typ, msg = msgApplyStart, e.Step+": Running..."
		case executor.Done:
			typ, msg = msgApplyComplete, e.Step+": Done"+after
		case executor.Failed, executor.Stuck:
			level, typ, msg = "error", msgApplyErrored, e.Step+": "+string(e.Status)+after+": "+e.Message
		case executor.Cancelled:
			level, typ, msg = "warn", msgApplyErrored, e.Step+": cancelled"+after+": "+e.Message
		case executor.RolledBack:
			h.Action, typ, msg = "rollback", msgRollbackComplete, e.Step+": Rolled back"
			if e.Message != "" {
				msg += " (" + e.Message + ")"
			}
		case executor.RollbackFailed:
			h.Action, level, typ, msg = "rollback", "error", msgRollbackErrored, e.Step+": Rollback failed: "+e.Message
		default:
			typ, msg = msgApplyProgress, e.Step+": "+string(e.Status)
		}
	default:
		typ, msg = msgLog, e.Message
	}
	fields := map[string]any{}
	if e.Step != "" {
		fields["hook"] = h
	}
	v.message(level, typ, msg, e.Time, fields)
}

// diagnostics writes one diagnostic message per diagnostic, with its
// snippet when the plan's sources hold it.
func (v *jsonView) diagnostics(diags hcl.Diagnostics) {
	for _, d := range diags {
		dj := render.NewDiagnosticJSON(v.files, d)
		dj.Summary, dj.Detail = v.red.String(dj.Summary), v.red.String(dj.Detail)
		if dj.Snippet != nil {
			dj.Snippet.Code = v.red.String(dj.Snippet.Code)
		}
		level, prefix := "error", "Error: "
		if dj.Severity == "warning" {
			level, prefix = "warn", "Warning: "
		}
		v.message(level, msgDiagnostic, prefix+dj.Summary, time.Time{}, map[string]any{"diagnostic": dj})
	}
}

// diag writes one diagnostic without a place in the plan.
func (v *jsonView) diag(severity hcl.DiagnosticSeverity, summary, detail string) {
	v.diagnostics(hcl.Diagnostics{{Severity: severity, Summary: summary, Detail: detail}})
}

// error writes a run-time error as diagnostics, as showError prints it:
// placed in the plan (with its snippet) when it carries ranges, the whole
// error text as the detail of a single one; each preflight problem as its
// own diagnostic; anything else with the error text as the summary.
func (v *jsonView) error(err error) {
	var pe *runner.PreflightError
	if errors.As(err, &pe) {
		for _, prob := range pe.Problems {
			if diags, ok := errorDiags(prob); ok {
				v.diagnostics(diags)
				continue
			}
			v.diag(hcl.DiagError, "Preflight check failed", prob.Error()+". Nothing was changed.")
		}
		return
	}
	if diags, ok := errorDiags(err); ok {
		v.diagnostics(diags)
		return
	}
	v.diag(hcl.DiagError, err.Error(), "")
}

// errorDiags is an error's plan ranges as diagnostics (see render.Error).
func errorDiags(err error) (hcl.Diagnostics, bool) {
	diags, ok := dsl.Diagnostics(err)
	if !ok {
		return nil, false
	}
	if len(diags) == 1 {
		d := *diags[0]
		d.Detail = err.Error()
		diags = hcl.Diagnostics{&d}
	}
	return diags, true
}

// summaryJSON ends apply's stream: the cause and every other error or
// warning as diagnostics, then one apply_summary message, always last.
func (c *applyCommand) summaryJSON(res *runner.Result, path string) {
	v, out := c.view, res.Outcome
	type stepJSON struct {
		Step    string  `json:"step"`
		Status  string  `json:"status"`
		Elapsed float64 `json:"elapsed_s"`
		Error   string  `json:"error,omitempty"`
	}
	steps := []stepJSON{}
	for i, s := range res.Graph.Steps {
		sj := stepJSON{Step: s.Addr, Status: string(out.Status[i]), Elapsed: out.Elapsed[i].Seconds()}
		if i == out.CauseStep {
			sj.Error = v.red.String(out.Cause.Error())
		}
		if err := out.UndoErrors[i]; err != nil {
			sj.Error = v.red.String(err.Error())
		}
		steps = append(steps, sj)
	}
	left := []string{}
	for _, i := range out.Left {
		left = append(left, res.Graph.Steps[i].Addr)
	}
	level, result, msg := "error", "", ""
	switch out.Code {
	case executor.ExitApplied:
		level, result, msg = "info", "applied", fmt.Sprintf("Apply complete: %d steps.", len(res.Graph.Steps))
		if res.NothingToDo {
			result, msg = "nothing_to_do", "Nothing to do: every step is already in the plan's state (no container was recreated, nginx was not reloaded)."
		}
		for _, i := range slices.Sorted(maps.Keys(out.FinalizeErrors)) {
			v.diag(hcl.DiagWarning, res.Graph.Steps[i].Addr+": cleaning up after success failed", out.FinalizeErrors[i].Error())
		}
	case executor.ExitNoChange:
		v.error(c.cause(res))
		result, msg = "failed", "Apply failed; nothing was changed."
	case executor.ExitRolledBack:
		v.error(c.cause(res))
		result, msg = "rolled_back", "Apply failed; every completed step was rolled back: things are as they were before the apply."
	default:
		v.error(c.cause(res))
		for _, i := range slices.Sorted(maps.Keys(out.UndoErrors)) {
			st := res.Graph.Steps[i]
			v.error(atStep(fmt.Errorf("rollback of %s failed: %w", st.Addr, out.UndoErrors[i]), "Rollback of "+st.Addr+" failed", st))
		}
		result = "rollback_incomplete"
		msg = fmt.Sprintf("Apply failed; still in place: %s. Run `plan rollback %s` to undo them (journal: %s).", strings.Join(left, ", "), path, res.Journal)
	}
	for _, err := range out.JournalErrors {
		v.diag(hcl.DiagWarning, err.Error(), "The journal may list as in place what is not: `plan rollback "+path+"` settles it (undos are idempotent).")
	}
	cause := ""
	if out.Cause != nil {
		cause = v.red.String(out.Cause.Error())
	}
	v.message(level, msgApplySummary, msg, time.Time{}, map[string]any{"summary": map[string]any{
		"operation": "apply", "result": result, "apply_id": res.ApplyID, "exit_code": out.Code, "cause": cause,
		"steps": steps, "still_in_place": left, "journal": res.Journal, "nothing_to_do": res.NothingToDo,
	}})
}

// onePathJSON is onePath, reporting a wrong argument count as a diagnostic
// when v is set.
func (m *meta) onePathJSON(v *jsonView, cmd string, args []string) (string, bool) {
	if v == nil {
		return m.onePath(cmd, args)
	}
	if len(args) != 1 {
		v.diag(hcl.DiagError, fmt.Sprintf("plan %s takes one PATH; got %d arguments", cmd, len(args)),
			fmt.Sprintf("Give a plan file or a folder of *.hcl files. Run \"plan %s -help\" for usage.", cmd))
		return "", false
	}
	return args[0], true
}

// rollbackJSON ends rollback's stream: failures and warnings as
// diagnostics, then one rollback_summary message, always last. The exit
// code is the text mode's.
func rollbackJSON(v *jsonView, res *runner.RollbackResult, path, dir string) int {
	if res.StaleLock != nil {
		v.log("warn", fmt.Sprintf("Took over the lock left by %s, which is no longer running.", res.StaleLock))
	}
	for _, s := range slices.Sorted(maps.Keys(res.Failed)) {
		what := "Undoing "
		if res.Committed {
			what = "Finishing "
		}
		v.diagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: what + s + " failed", Detail: res.Failed[s].Error()}})
	}
	for _, err := range res.JournalErrors {
		v.diag(hcl.DiagWarning, err.Error(), "")
	}
	failed := map[string]string{}
	for s, err := range res.Failed {
		failed[s] = v.red.String(err.Error())
	}
	nonNil := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	level, result, msg, code := "info", "rolled_back", "Rolled back apply "+res.ApplyID+": things are as they were before it.", exitOK
	switch {
	case res.Nothing && res.ApplyID == "":
		result, msg = "no_journal", "Nothing to roll back: no apply of this plan has run (no journal in "+dir+")."
	case res.Nothing:
		result, msg = "nothing", "Nothing to roll back: the last apply ("+res.ApplyID+") finished cleanly."
	case res.Committed:
		result, msg = "finished", "Apply "+res.ApplyID+" had committed (every step was done): it is finished now, and nothing was undone."
		if len(res.Failed) > 0 {
			level = "warn"
		}
	case len(res.Failed) > 0 || len(res.Left) > 0:
		level, result, code = "error", "incomplete", exitError
		msg = "The rollback of apply " + res.ApplyID + " is incomplete; fix what is reported and run `plan rollback " + path + "` again."
	}
	v.message(level, msgRollbackSummary, msg, time.Time{}, map[string]any{"summary": map[string]any{
		"operation": "rollback", "result": result, "apply_id": res.ApplyID, "exit_code": code,
		"undone": nonNil(res.Undone), "unchanged": nonNil(res.Unchanged), "finished": nonNil(res.Finished),
		"failed": failed, "left": nonNil(res.Left),
	}})
	return code
}

// statusJSON is `plan status -json`: after the version message, one
// status message with the lock and the last apply (null when there is
// none), and a diagnostic when the journal cannot be read.
func statusJSON(v *jsonView, path string, snap *runner.Snapshot) int {
	dir := snap.Dir
	var lock map[string]any
	lockMsg := "Lock: none"
	if info := snap.Lock; info != nil {
		alive := snap.LockAlive
		lock = map[string]any{"id": info.ID, "pid": info.PID, "host": info.Host, "started": info.Started, "plan": info.Plan, "alive": alive}
		lockMsg = "Lock: " + info.String()
		if !alive {
			lockMsg += ", STALE"
		}
	}
	var last map[string]any
	lastMsg := "last apply: none"
	if j, err := executor.LastJournal(dir); err == nil && j != "" {
		last = map[string]any{"journal": snap.Name(j)}
		if entries, err := executor.ReadJournal(j); err != nil {
			v.diag(hcl.DiagError, "Unreadable journal", err.Error())
			last["result"], lastMsg = "unreadable", "last apply: UNREADABLE journal"
		} else {
			s := executor.Summarize(entries)
			steps := func(es []executor.Entry) []string {
				out := []string{}
				for _, e := range es {
					out = append(out, e.Step)
				}
				return out
			}
			result := s.Result
			switch {
			case !s.Began:
				result = "not_begun"
			case s.NeedsFinish():
				result = "committed_unfinished"
			case !s.Finished:
				result = "unfinished"
			}
			for k, x := range map[string]any{
				"apply_id": s.ApplyID, "pid": s.PID, "host": s.Host, "began": s.Began, "finished": s.Finished,
				"committed": s.Committed, "result": result, "needs_rollback": s.NeedsRollback(), "needs_finish": s.NeedsFinish(),
				"still_in_place": steps(s.Outstanding), "interrupted": steps(s.Interrupted), "to_finish": steps(s.Unfinalized),
			} {
				last[k] = x
			}
			if s.Began {
				last["started"] = s.Started
			}
			lastMsg = "last apply: " + s.ApplyID + ": " + result
			if s.NeedsRollback() || s.NeedsFinish() {
				lastMsg += "; run `plan rollback " + path + "`"
			}
		}
	}
	v.message("info", msgStatus, lockMsg+"; "+lastMsg, time.Time{}, map[string]any{"status": map[string]any{"lock": lock, "last_apply": last}})
	return exitOK
}
