package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/runner"
)

// stream checks a -json output line by line against Terraform's
// machine-readable UI: every line is one JSON object with @level,
// @message, @module, @timestamp (in Terraform's layout) and type, the
// first a version message. It returns the messages.
func stream(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	if !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("stdout does not end with a newline: %q", stdout)
	}
	var msgs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		for _, k := range []string{"@level", "@message", "@module", "@timestamp", "type"} {
			if s, ok := m[k].(string); !ok || s == "" {
				t.Errorf("line %d: no %s: %s", i+1, k, line)
			}
		}
		if _, err := time.Parse(jsonTimestamp, m["@timestamp"].(string)); err != nil {
			t.Errorf("line %d: @timestamp: %v", i+1, err)
		}
		switch m["@level"] {
		case "info", "warn", "error", "debug", "trace":
		default:
			t.Errorf("line %d: @level %v", i+1, m["@level"])
		}
		msgs = append(msgs, m)
	}
	if v := msgs[0]; v["type"] != "version" || v["plan"] != version || v["ui"] != jsonUIVersion || v["@message"] != "plan "+version {
		t.Errorf("first message is not the version: %v", v)
	}
	return msgs
}

// ofType returns the messages of one type.
func ofType(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func diagOf(m map[string]any) map[string]any { d, _ := m["diagnostic"].(map[string]any); return d }

// TestApplyJSONNeverPrompts: -json without -auto-approve is a diagnostic
// and exit 1, before anything is loaded or locked; nothing else on stdout.
func TestApplyJSONNeverPrompts(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := plan(t, "apply", "-json", "-state-dir", dir, rollingUpdate)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	msgs := stream(t, stdout)
	if len(msgs) != 2 || msgs[1]["type"] != "diagnostic" || msgs[1]["@level"] != "error" ||
		diagOf(msgs[1])["summary"] != "-json requires -auto-approve" {
		t.Errorf("want version + one diagnostic:\n%s", stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the state folder was touched: %v", entries)
	}
}

// TestApplyJSONDiagnostics: plan errors, a usage error, a held lock and
// preflight problems are diagnostic messages on stdout, with the
// snippet when the error has a place in the plan; nothing on stderr.
func TestApplyJSONDiagnostics(t *testing.T) {
	t.Run("plan errors", func(t *testing.T) {
		code, stdout, stderr := plan(t, "apply", "-json", "-auto-approve", invalidRefs)
		if code != 1 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		msgs := stream(t, stdout)
		diags := ofType(msgs, "diagnostic")
		if len(diags) != 8 || len(msgs) != 9 {
			t.Fatalf("want 8 diagnostics after the version:\n%s", stdout)
		}
		d := diagOf(diags[0])
		snip, _ := d["snippet"].(map[string]any)
		if diags[0]["@message"] != "Error: Reference to undeclared input variable" || d["range"] == nil || snip == nil ||
			!strings.Contains(snip["code"].(string), "var.verison") || snip["context"] != "locals" {
			t.Errorf("first diagnostic: %v", diags[0])
		}
	})
	t.Run("usage", func(t *testing.T) {
		code, stdout, stderr := plan(t, "apply", "-json", "-auto-approve")
		msgs := stream(t, stdout)
		if code != 1 || stderr != "" || len(msgs) != 2 || !strings.Contains(msgs[1]["@message"].(string), "takes one PATH") {
			t.Errorf("exit %d, stderr %q:\n%s", code, stderr, stdout)
		}
	})
	t.Run("lock", func(t *testing.T) {
		dir := t.TempDir()
		l, err := executor.Acquire(dir, executor.LockInfo{ID: "held-by-test", PID: os.Getpid(), Host: "here", Started: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Release() })
		code, stdout, stderr := plan(t, "apply", "-json", "-auto-approve", "-state-dir", dir, rollingUpdate)
		msgs := stream(t, stdout)
		diags := ofType(msgs, "diagnostic")
		if code != 1 || stderr != "" || len(diags) != 1 || !strings.Contains(diags[0]["@message"].(string), "held-by-test") {
			t.Errorf("exit %d, stderr %q:\n%s", code, stderr, stdout)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		// Each problem is its own diagnostic: placed (with its snippet)
		// when it names a place in the plan, with its text otherwise.
		src := "step \"deploy\" \"app\" {\n  container = \"app9\"\n}\n"
		f, _ := hclsyntax.ParseConfig([]byte(src), "p.hcl", hcl.Pos{Line: 1, Column: 1})
		at := strings.Index(src, `"app9"`)
		rng := hcl.Range{Filename: "p.hcl", Start: hcl.Pos{Line: 2, Column: 15, Byte: at}, End: hcl.Pos{Line: 2, Column: 21, Byte: at + 6}}
		var b bytes.Buffer
		v := newJSONView(&b)
		v.files = map[string]*hcl.File{"p.hcl": f}
		v.error(fmt.Errorf("apply: %w", &runner.PreflightError{Problems: []error{
			errors.New("docker: no answer"),
			dsl.At(errors.New(`no container named "app9"`), "Container not found", rng),
		}}))
		msgs := stream(t, b.String())
		if len(msgs) != 3 {
			t.Fatalf("want a diagnostic per problem:\n%s", b.String())
		}
		if d := diagOf(msgs[1]); d["summary"] != "Preflight check failed" || d["detail"] != "docker: no answer. Nothing was changed." || d["range"] != nil {
			t.Errorf("problem without a place: %v", d)
		}
		d := diagOf(msgs[2])
		snip, _ := d["snippet"].(map[string]any)
		if d["summary"] != "Container not found" || snip == nil || snip["code"] != `  container = "app9"` || snip["highlight_start_offset"] != 14.0 {
			t.Errorf("problem with a place: %v", d)
		}
	})
}

// TestJSONViewEvents: each executor event is one message of the type,
// level and hook docs/cli.md gives; notes after the rollback's start are
// the undo's.
func TestJSONViewEvents(t *testing.T) {
	var b bytes.Buffer
	v := newJSONView(&b)
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456000, time.UTC)
	events := []executor.Event{
		{Time: at, Type: executor.EventStep, Step: "step.drain.a", Status: executor.Running},
		{Type: executor.EventNote, Step: "step.drain.a", Message: "drained a:3000 in 12ms"},
		{Type: executor.EventStep, Step: "step.drain.a", Status: executor.Done, Elapsed: 1.5},
		{Type: executor.EventStep, Step: "step.deploy.a", Status: executor.Failed, Elapsed: 2, Message: "boom"},
		{Type: executor.EventStep, Step: "step.check.a", Status: executor.Cancelled, Message: "stopped"},
		{Type: executor.EventRollback, Message: "rolling back 1 completed steps"},
		{Type: executor.EventNote, Step: "step.drain.a", Message: "restored a:3000"},
		{Type: executor.EventStep, Step: "step.drain.a", Status: executor.RolledBack},
		{Type: executor.EventStep, Step: "step.x", Status: executor.RollbackFailed, Message: "gone"},
		{Type: executor.EventCommit, Message: "all 1 steps done; committed"},
	}
	for _, e := range events {
		v.event(e)
	}
	msgs := stream(t, b.String())[1:]
	want := []struct{ typ, level, action, status string }{
		{"apply_start", "info", "apply", "running"},
		{"apply_progress", "info", "apply", ""},
		{"apply_complete", "info", "apply", "done"},
		{"apply_errored", "error", "apply", "failed"},
		{"apply_errored", "warn", "apply", "cancelled"},
		{"rollback_start", "warn", "", ""},
		{"rollback_progress", "info", "rollback", ""},
		{"rollback_complete", "info", "rollback", "rolled back"},
		{"rollback_errored", "error", "rollback", "rollback failed"},
		{"apply_committed", "info", "", ""},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d:\n%s", len(msgs), len(want), b.String())
	}
	for i, w := range want {
		m := msgs[i]
		h, _ := m["hook"].(map[string]any)
		if m["type"] != w.typ || m["@level"] != w.level || (w.action == "") != (h == nil) {
			t.Errorf("event %d: %v, want %+v", i, m, w)
			continue
		}
		if h != nil && (h["action"] != w.action || h["step"] != events[i].Step || (h["status"] != nil && h["status"] != w.status)) {
			t.Errorf("event %d hook: %v, want %+v", i, h, w)
		}
	}
	if msgs[0]["@timestamp"] != "2026-11-27T12:00:00.123456Z" {
		t.Errorf("an event's message is stamped with the event's time: %v", msgs[0]["@timestamp"])
	}
	if h := msgs[2]["hook"].(map[string]any); h["elapsed_seconds"] != 1.5 || msgs[2]["@message"] != "step.drain.a: Done after 1.5s" {
		t.Errorf("apply_complete: %v", msgs[2])
	}
	if h := msgs[1]["hook"].(map[string]any); h["note"] != "drained a:3000 in 12ms" {
		t.Errorf("apply_progress: %v", msgs[1])
	}
	if h := msgs[3]["hook"].(map[string]any); h["reason"] != "boom" {
		t.Errorf("apply_errored: %v", msgs[3])
	}
}

// TestRollbackAndStatusJSON: rollback -json and status -json are streams
// too: the version, then their summary / status message.
func TestRollbackAndStatusJSON(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := plan(t, "rollback", "-json", "-state-dir", dir, rollingUpdate)
	msgs := stream(t, stdout)
	if code != 0 || stderr != "" || len(msgs) != 2 || msgs[1]["type"] != "rollback_summary" {
		t.Fatalf("rollback: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	if s := msgs[1]["summary"].(map[string]any); s["result"] != "no_journal" || s["exit_code"] != 0.0 {
		t.Errorf("rollback summary: %v", s)
	}

	code, stdout, stderr = plan(t, "status", "-json", "-state-dir", dir, rollingUpdate)
	msgs = stream(t, stdout)
	if code != 0 || stderr != "" || len(msgs) != 2 || msgs[1]["type"] != "status" {
		t.Fatalf("status: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	st := msgs[1]["status"].(map[string]any)
	if st["lock"] != nil || st["last_apply"] != nil || msgs[1]["@message"] != "Lock: none; last apply: none" {
		t.Errorf("status of an empty state folder: %v", msgs[1])
	}

	l, err := executor.Acquire(dir, executor.LockInfo{ID: "live-lock", PID: os.Getpid(), Host: "here", Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release() }()
	_, stdout, _ = plan(t, "status", "-json", "-state-dir", dir, rollingUpdate)
	lock, _ := stream(t, stdout)[1]["status"].(map[string]any)["lock"].(map[string]any)
	if lock == nil || lock["id"] != "live-lock" || lock["alive"] != true {
		t.Errorf("status with a held lock: %s", stdout)
	}
}

// TestApplySummaryJSON: a failed apply's stream ends with the cause and
// each failed undo as diagnostics (placed at the step's block), then the
// apply_summary, last, with the result and what is still in place.
func TestApplySummaryJSON(t *testing.T) {
	src := "step \"deploy\" \"a\" {\n}\nstep \"deploy\" \"b\" {\n}\n"
	f, _ := hclsyntax.ParseConfig([]byte(src), "p.hcl", hcl.Pos{Line: 1, Column: 1})
	block := func(line, byte int) hcl.Range {
		return hcl.Range{Filename: "p.hcl", Start: hcl.Pos{Line: line, Column: 1, Byte: byte}, End: hcl.Pos{Line: line, Column: 18, Byte: byte + 17}}
	}
	g := &executor.Graph{Steps: []*dsl.Step{{Addr: "step.deploy.a", DeclRange: block(1, 0)}, {Addr: "step.deploy.b", DeclRange: block(3, 21)}}}
	res := &runner.Result{ApplyID: "a1", Journal: "/j", Graph: g, Outcome: &executor.Outcome{
		Status:     []executor.Status{executor.RollbackFailed, executor.Failed},
		Elapsed:    []time.Duration{time.Second, 2 * time.Second},
		Cause:      errors.New("health check failed"),
		CauseStep:  1,
		UndoErrors: map[int]error{0: errors.New("container gone")},
		Left:       []int{0},
		Code:       executor.ExitRollbackPartial,
	}}
	var b bytes.Buffer
	c := &applyCommand{meta: &meta{}, view: newJSONView(&b)}
	c.view.files = map[string]*hcl.File{"p.hcl": f}
	c.summaryJSON(res, "p.hcl")
	msgs := stream(t, b.String())
	if len(msgs) != 4 {
		t.Fatalf("want version, 2 diagnostics, summary:\n%s", b.String())
	}
	cause, undo := diagOf(msgs[1]), diagOf(msgs[2])
	if cause["summary"] != "step.deploy.b failed" || cause["snippet"].(map[string]any)["start_line"] != 3.0 ||
		undo["summary"] != "Rollback of step.deploy.a failed" || !strings.Contains(undo["detail"].(string), "container gone") {
		t.Errorf("diagnostics:\n%v\n%v", cause, undo)
	}
	last := msgs[3]
	s := last["summary"].(map[string]any)
	if last["type"] != "apply_summary" || last["@level"] != "error" || s["result"] != "rollback_incomplete" || s["exit_code"] != 3.0 ||
		len(s["steps"].([]any)) != 2 || s["still_in_place"].([]any)[0] != "step.deploy.a" || !strings.Contains(last["@message"].(string), "plan rollback p.hcl") {
		t.Errorf("summary: %v", last)
	}
}
