package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/runner"
	"github.com/nonstop-deploy/nonstop/steps"
)

// TestDetailedExitcode: -detailed-exitcode without -dry-run is a usage
// error, before anything is loaded or locked; with -dry-run, a failed
// preflight (the plan's containers and nginx configs do not exist here)
// is exit 1, never 0 or 2.
func TestDetailedExitcode(t *testing.T) {
	t.Run("without -dry-run", func(t *testing.T) {
		dir := t.TempDir()
		code, stdout, stderr := plan(t, "apply", "-auto-approve", "-detailed-exitcode", "-state-dir", dir, rollingUpdate)
		if code != 1 || !strings.Contains(stderr, "-detailed-exitcode needs -dry-run") || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("the state folder was touched: %v", entries)
		}
	})
	t.Run("without -dry-run, -json", func(t *testing.T) {
		code, stdout, stderr := plan(t, "apply", "-json", "-auto-approve", "-detailed-exitcode", rollingUpdate)
		diags := ofType(stream(t, stdout), "diagnostic")
		if code != 1 || stderr != "" || len(diags) != 1 || diagOf(diags[0])["summary"] != "-detailed-exitcode needs -dry-run" {
			t.Errorf("exit %d, stderr %q:\n%s", code, stderr, stdout)
		}
	})
	for _, args := range [][]string{
		{"apply", "-auto-approve", "-format", "markdown"},
		{"apply", "-dry-run", "-format", "json"},
		{"apply", "-dry-run", "-json", "-format", "markdown"},
	} {
		t.Run("usage "+strings.Join(args[1:], " "), func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := plan(t, append(args, "-state-dir", dir, rollingUpdate)...)
			if code != 1 || !strings.Contains(stdout+stderr, "-format is text or markdown, with -dry-run and without -json") {
				t.Errorf("exit %d:\n%s\n%s", code, stdout, stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the state folder was touched: %v", entries)
			}
		})
	}
	for _, args := range [][]string{
		{"apply", "-dry-run", "-detailed-exitcode"},
		{"apply", "-dry-run", "-detailed-exitcode", "-json"},
	} {
		t.Run("preflight fails "+strings.Join(args[1:], " "), func(t *testing.T) {
			args := append(args, "-state-dir", t.TempDir(), rollingUpdate)
			code, stdout, stderr := plan(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s\n%s", code, stdout, stderr)
			}
			if strings.Contains(stdout, "What apply would do") || strings.Contains(stdout, "planned_change") {
				t.Errorf("a failed preflight still listed changes:\n%s", stdout)
			}
		})
	}
}

// TestDryRunReport: each step is one line (text) or one planned_change
// message (-json), in plan order; a value of a sensitive variable never
// shows, even inside what a step read from the live engine; exit 2 only
// with -detailed-exitcode and a step to run.
func TestDryRunReport(t *testing.T) {
	// The redactor knows s3cret from the step that sets it; the live
	// container's old value happens to be the same secret.
	p := &dsl.Plan{Steps: []*dsl.Step{{Spec: &steps.DeploySpec{Env: dsl.StringMap{Value: map[string]string{"TOKEN": "s3cret"}, Sensitive: true}}}}}
	red := runner.NewRedactor(p)
	g := &executor.Graph{Steps: []*dsl.Step{{Addr: "step.drain.a"}, {Addr: "step.deploy.a"}, {Addr: "step.health_check.a"}}}
	pending := &runner.Result{DryRun: true, Graph: g,
		Skipped: []string{"", "", ""},
		Changes: []*steps.Change{
			{Items: []steps.ChangeItem{{What: "upstream apps:", Before: "server a:3000;", After: "server a:3000 down;"}}},
			{Items: []steps.ChangeItem{{What: "env TOKEN", Before: `"s3cret"`, After: `"new"`}}},
			nil,
		},
		ChangeErrors: []error{nil, nil, nil},
	}
	upToDate := &runner.Result{DryRun: true, Graph: g, NothingToDo: true,
		Skipped:      []string{"a:3000 stays in rotation", "a already runs x:v2 with the plan's env", "its deploy is skipped"},
		Changes:      make([]*steps.Change, 3),
		ChangeErrors: make([]error, 3),
	}
	for _, tc := range []struct {
		name           string
		res            *runner.Result
		json, detailed bool
		code           int
		want           []string
	}{
		{"pending", pending, false, true, 2, []string{
			"step.drain.a         will run: upstream apps: server a:3000; → server a:3000 down;",
			`step.deploy.a        will run: env TOKEN "(sensitive)" → "new"`,
			"step.health_check.a  will run\n",
			"3 to run, 0 up to date.",
		}},
		{"pending without -detailed-exitcode", pending, false, false, 0, []string{"3 to run"}},
		{"up to date", upToDate, false, true, 0, []string{
			"step.deploy.a        already up to date: will be skipped (a already runs x:v2 with the plan's env)",
			"Nothing to do",
		}},
		{"pending -json", pending, true, true, 2, []string{
			`"type":"planned_change"`, `"change":{"step":"step.deploy.a","action":"run","items":[{"what":"env TOKEN","before":"\"(sensitive)\"","after":"\"new\""}]}`,
		}},
		{"up to date -json", upToDate, true, true, 0, []string{`"action":"skip","reason":"a:3000 stays in rotation"`}},
		{"pending markdown", pending, false, true, 2, []string{
			"| Step | Action | Change |",
			"| `step.drain.a` | run | `upstream apps:` server a:3000; → server a:3000 down; |",
			"| `step.deploy.a` | run | `env TOKEN` \"(sensitive)\" → \"new\" |",
			"| `step.health_check.a` | run |  |",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &applyCommand{meta: &meta{stdout: &out, stderr: &out}, detailed: tc.detailed, format: "text"}
			if strings.Contains(tc.name, "markdown") {
				c.format = "markdown"
			}
			if tc.json {
				c.view = newJSONView(&out)
				c.view.red = red
			}
			if code := c.dryRunReport(tc.res, red); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "s3cret") {
				t.Errorf("the sensitive value shows:\n%s", out.String())
			}
		})
	}
}
