package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// stateWith writes one journal of entries (then extra raw text) into a
// fresh state folder.
func stateWith(t *testing.T, extra string, entries ...executor.Entry) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), executor.StateDir)
	j, err := executor.CreateJournal(dir, "20260101T000000.000000Z-abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	if extra != "" {
		f, _ := os.OpenFile(j.Path, os.O_APPEND|os.O_WRONLY, 0o600)
		_, _ = f.WriteString(extra)
		f.Close()
	}
	return dir
}

// What status, rollback and apply say about a committed, unfinished apply
// and about a journal that cannot be read: the one is finished (never
// undone), the other refused with a hint to inspect it.
func TestStateCommands(t *testing.T) {
	begin := executor.Entry{Kind: executor.KindBegin, ApplyID: "20260101T000000.000000Z-abc", Host: "h", PID: 1}
	committed := stateWith(t, "", begin,
		executor.Entry{Kind: executor.KindIntent, Step: "step.drain.app2", Type: "drain"},
		executor.Entry{Kind: executor.KindDone, Step: "step.drain.app2", Type: "drain", Record: executor.Record(`{}`)},
		executor.Entry{Kind: executor.KindCommit})
	damaged := stateWith(t, "{not json\n", begin)
	for _, tc := range []struct {
		name         string
		args         []string
		code         int
		stdout, errs []string
	}{
		{"status, committed", []string{"status", "-state-dir", committed, rollingUpdate}, 0,
			[]string{"COMMITTED, UNFINISHED", "to finish: step.drain.app2", "nothing is undone"}, nil},
		{"status, damaged", []string{"status", "-state-dir", damaged, rollingUpdate}, 0,
			[]string{"UNREADABLE"}, []string{"cannot be read at line 2", "inspect it"}},
		{"rollback, damaged", []string{"rollback", "-state-dir", damaged, rollingUpdate}, 1,
			nil, []string{"cannot be read at line 2", "inspect it"}},
		{"apply, damaged", []string{"apply", "-auto-approve", "-state-dir", damaged, rollingUpdate}, 1,
			nil, []string{"cannot be read at line 2", "inspect it"}},
		{"apply, committed", []string{"apply", "-auto-approve", "-state-dir", committed, rollingUpdate}, 1,
			nil, []string{"committed", "`plan rollback`", "nothing is undone"}},
		{"rollback, committed", []string{"rollback", "-state-dir", committed, rollingUpdate}, 0,
			[]string{"finished: step.drain.app2", "had committed", "nothing was undone"}, nil},
		{"status, after finishing", []string{"status", "-state-dir", committed, rollingUpdate}, 0,
			[]string{": applied"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := plan(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.errs {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// A step's failure is placed at the step's block, unless its step type
// gave it a more precise range.
func TestAtStep(t *testing.T) {
	decl := hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 3, Column: 1}}
	own := hcl.Range{Filename: "plan.hcl", Start: hcl.Pos{Line: 9, Column: 3}}
	st := &dsl.Step{Addr: "step.deploy.app2", DeclRange: decl}
	for _, tc := range []struct {
		err  error
		line int
	}{
		{errors.New("boom"), 3},
		{fmt.Errorf("wrapped: %w", dsl.At(errors.New("boom"), "Image not found", own)), 9},
	} {
		d, ok := dsl.Diagnostics(atStep(tc.err, "step.deploy.app2 failed", st))
		if !ok || len(d) != 1 || d[0].Subject.Start.Line != tc.line {
			t.Errorf("%v: %v, want line %d", tc.err, d, tc.line)
		}
	}
	if _, ok := dsl.Diagnostics(atStep(errors.New("x"), "s", &dsl.Step{})); ok {
		t.Error("a step without a range placed an error")
	}
}
