package main

import (
	"os"
	"strings"
	"testing"
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
