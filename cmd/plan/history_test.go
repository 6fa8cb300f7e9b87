package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/runner"
)

// historyFixture writes three records (two applies, one rollback) into a
// fresh state folder, with fixed times and IDs.
func historyFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".nonstop")
	t0 := time.Date(2026, 11, 27, 10, 12, 0, 0, time.UTC)
	records := []runner.HistoryRecord{
		{ID: "20261127T101200.000000Z-aaaaaa", Kind: runner.KindApply, Started: t0, Finished: t0.Add(42300 * time.Millisecond),
			User: "alice", Host: "deploy1", Plan: "plans/rolling-update.hcl", PlanHash: "0123456789abcdef",
			Git:       &runner.GitInfo{Commit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39", Dirty: true},
			Variables: []runner.HistoryVar{{Name: "version", Value: `"v2"`, Source: "-var"}, {Name: "token", Value: runner.Hidden, Source: "default", Sensitive: true}},
			Images: []runner.ImageChange{{Step: "step.deploy.app1", Container: "app1", OldContainer: "9b1f0c3a7e2d4b5c6d7e8f90", Image: "app:v2",
				ImageDigest: "sha256:5d41402abc4b2a76b9719d911017c592"}},
			Outcome: runner.OutcomeApplied,
			Steps:   []runner.HistoryStep{{Step: "step.drain.app1", Status: "done", ElapsedS: 2.04}, {Step: "step.deploy.app1", Status: "done", ElapsedS: 31.5}},
			Watch:   []runner.WatchCount{{URL: "http://127.0.0.1:8080/", Requests: 2100, Failed: 0}}},
		{ID: "20261127T113000.000000Z-bbbbbb", Kind: runner.KindApply, Started: t0.Add(78 * time.Minute), Finished: t0.Add(78*time.Minute + 9*time.Second),
			User: "bob", Host: "deploy1", Outcome: runner.OutcomeRolledBack, ExitCode: 2, Cause: "step.health_check.app1 failed: 503",
			Images: []runner.ImageChange{{Step: "step.deploy.app1", Container: "app1", Image: "app:v3", ImageDigest: "sha256:aa", Undone: true}}},
		{ID: "20261127T120000.000000Z-cccccc", Kind: runner.KindRollback, ApplyID: "20261127T113000.000000Z-bbbbbb", Started: t0.Add(108 * time.Minute),
			Finished: t0.Add(108*time.Minute + 1500*time.Millisecond), User: "bob", Host: "deploy1",
			Git:     &runner.GitInfo{Commit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"},
			Outcome: runner.OutcomeRolledBack, Steps: []runner.HistoryStep{{Step: "step.drain.app1", Status: "undone"}}},
	}
	for _, r := range records {
		if err := runner.AppendHistory(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The table (newest first, -n) and one record in full, as golden files.
func TestHistoryGolden(t *testing.T) {
	dir := historyFixture(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"table", nil},
		{"table-n2", []string{"-n", "2"}},
		{"record", []string{"20261127T1012"}},
		{"record-rollback", []string{"20261127T120000.000000Z-cccccc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"history", "-state-dir", dir}, tc.args...), rollingUpdate)
			code, stdout, stderr := plan(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			golden(t, filepath.Join("testdata", "history", tc.name+".golden"), []byte(stdout))
		})
	}
}

// historyRecords reads the records of a history -json stream: the version
// message first, then one history_record message a record.
func historyRecords(t *testing.T, stdout string) []runner.HistoryRecord {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var first struct{ Type string }
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Type != "version" {
		t.Fatalf("first line is not the version message: %s", lines[0])
	}
	var out []runner.HistoryRecord
	for _, l := range lines[1:] {
		var msg struct {
			Type   string               `json:"type"`
			Level  string               `json:"@level"`
			Record runner.HistoryRecord `json:"record"`
		}
		if err := json.Unmarshal([]byte(l), &msg); err != nil || msg.Type != "history_record" || msg.Level != "info" {
			t.Fatalf("%v: %s", err, l)
		}
		out = append(out, msg.Record)
	}
	return out
}

// -json is the stream: a record a message, newest first; with an ID, that
// record.
func TestHistoryJSON(t *testing.T) {
	dir := historyFixture(t)
	code, stdout, stderr := plan(t, "history", "-json", "-n", "2", "-state-dir", dir, rollingUpdate)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ids []string
	for _, r := range historyRecords(t, stdout) {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, " ") != "20261127T120000.000000Z-cccccc 20261127T113000.000000Z-bbbbbb" {
		t.Fatalf("ids %v", ids)
	}
	code, stdout, _ = plan(t, "history", "-json", "-state-dir", dir, "20261127T1012", rollingUpdate)
	one := historyRecords(t, stdout)
	if len(one) != 1 {
		t.Fatalf("want one record: %s", stdout)
	}
	r := one[0]
	if code != 0 || r.Images[0].ImageDigest != "sha256:5d41402abc4b2a76b9719d911017c592" || r.Git == nil || !r.Git.Dirty {
		t.Fatalf("exit %d: %s", code, stdout)
	}
}

// With -json, no history is the version message alone, and an error is a
// diagnostic message, never text on stdout.
func TestHistoryJSONEmptyAndErrors(t *testing.T) {
	code, stdout, _ := plan(t, "history", "-json", "-state-dir", t.TempDir(), rollingUpdate)
	if code != 0 || len(historyRecords(t, stdout)) != 0 {
		t.Errorf("empty: exit %d: %s", code, stdout)
	}
	code, stdout, _ = plan(t, "history", "-json", "-state-dir", historyFixture(t), "2025", rollingUpdate)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[1], `"type":"diagnostic"`) || !strings.Contains(lines[1], `no apply or rollback`) {
		t.Errorf("unknown id: exit %d: %s", code, stdout)
	}
}

// No history, an ID that matches nothing or more than one, a damaged file.
func TestHistoryErrors(t *testing.T) {
	dir := historyFixture(t)
	damaged := t.TempDir()
	if err := os.WriteFile(runner.HistoryPath(damaged), []byte("{}\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"empty", []string{"-state-dir", t.TempDir(), rollingUpdate}, 0, "No applies recorded for this plan.\n", ""},
		{"no such id", []string{"-state-dir", dir, "2025", rollingUpdate}, 1, "", `no apply or rollback "2025"`},
		{"ambiguous", []string{"-state-dir", dir, "20261127T1", rollingUpdate}, 1, "", "matches 3 records"},
		{"damaged", []string{"-state-dir", damaged, rollingUpdate}, 1, "", "at line 1"},
		{"no path", nil, 1, "", "takes a PATH"},
		{"negative n", []string{"-n", "-1", rollingUpdate}, 1, "", "-n -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := plan(t, append([]string{"history"}, tc.args...)...)
			if code != tc.code || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}
