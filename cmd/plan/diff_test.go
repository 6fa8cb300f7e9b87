package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	diffOld  = "../../internal/render/testdata/diff/old.hcl"
	diffNew  = "../../internal/render/testdata/diff/new.hcl"
	diffSame = "../../internal/render/testdata/diff/same.hcl"
)

// TestDiffExitCodes: 0 the same, 2 different, 1 an error, and stdout
// holds nothing on an error.
func TestDiffExitCodes(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string // a prefix
		stderr string // a part
	}{
		{[]string{diffOld, diffSame}, 0, "No differences.\n", ""},
		{[]string{rollingUpdate, rollingUpdate}, 0, "No differences.\n", ""},
		{[]string{"-format", "json", diffOld, diffSame}, 0, "{", ""},
		{[]string{diffOld, diffNew}, 2, "Diff: " + diffOld + " → " + diffNew, ""},
		{[]string{"-format", "markdown", diffOld, diffNew}, 2, "### Plan diff", ""},
		{[]string{"-format", "json", diffOld, diffNew}, 2, "{", ""},
		{[]string{invalidRefs, diffNew}, 1, "", "Error: Reference to undeclared"},
		{[]string{diffOld, invalidCycle}, 1, "", "Error: Dependency cycle"},
		{[]string{diffOld, "no-such-plan.hcl"}, 1, "", "no-such-plan.hcl"},
		{[]string{diffOld}, 1, "", "takes two PATHs"},
		{[]string{diffOld, diffNew, diffSame}, 1, "", "takes two PATHs"},
		{[]string{"-format", "yaml", diffOld, diffNew}, 1, "", `-format "yaml" is not a diff format`},
	}
	for _, c := range cases {
		code, stdout, stderr := plan(t, append([]string{"diff"}, c.args...)...)
		if code != c.code {
			t.Errorf("diff %v: exit %d, want %d\n%s", c.args, code, c.code, stderr)
		}
		if !strings.HasPrefix(stdout, c.stdout) || (c.stdout == "" && stdout != "") {
			t.Errorf("diff %v: stdout does not start with %q:\n%s", c.args, c.stdout, stdout)
		}
		if c.stderr == "" && stderr != "" || !strings.Contains(stderr, c.stderr) {
			t.Errorf("diff %v: stderr lacks %q:\n%s", c.args, c.stderr, stderr)
		}
	}
}

// diffJSON runs diff -format json and decodes its output.
func diffJSON(t *testing.T, args ...string) (int, map[string][]json.RawMessage) {
	t.Helper()
	code, stdout, stderr := plan(t, append([]string{"diff", "-format", "json"}, args...)...)
	if code == 1 {
		t.Fatalf("diff %v: %s", args, stderr)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]json.RawMessage{}
	for _, k := range []string{"plan", "removed", "added", "changed"} {
		var l []json.RawMessage
		if err := json.Unmarshal(doc[k], &l); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out[k] = l
	}
	return code, out
}

// TestDiffVarsApplyToBoth: -var sets a variable in both plans, so the
// values that differed by default no longer do, the sensitive one
// included, while everything else still differs.
func TestDiffVarsApplyToBoth(t *testing.T) {
	_, without := diffJSON(t, diffOld, diffNew)
	code, with := diffJSON(t, "-var", "version=v9", "-var", "api_token=same", diffOld, diffNew)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	all := func(d map[string][]json.RawMessage) string {
		var b strings.Builder
		for _, k := range []string{"plan", "changed"} {
			for _, r := range d[k] {
				b.Write(r)
			}
		}
		return b.String()
	}
	for _, s := range []string{`"variable.version"`, `"variable.api_token"`, `"image"`, `"sensitive": true`} {
		if !strings.Contains(all(without), s) {
			t.Errorf("without -var: no %s", s)
		}
		if strings.Contains(all(with), s) {
			t.Errorf("with -var on both: %s still differs:\n%s", s, all(with))
		}
	}
	if !strings.Contains(all(with), `"description"`) || len(with["added"]) != 1 || len(with["removed"]) != 1 {
		t.Errorf("with -var: the other differences are gone:\n%v", with)
	}
}

// TestDiffNeverPrintsSecrets, whatever the format and however the
// sensitive value is given.
func TestDiffNeverPrintsSecrets(t *testing.T) {
	for _, format := range []string{"text", "markdown", "json"} {
		for _, args := range [][]string{{diffOld, diffNew}, {"-var", "api_token=cli-s3cr3t", diffOld, diffNew}} {
			_, stdout, stderr := plan(t, append([]string{"diff", "-format", format}, args...)...)
			for _, secret := range []string{"old-s3cr3t", "new-s3cr3t", "cli-s3cr3t"} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("diff -format %s %v prints %q", format, args, secret)
				}
			}
		}
	}
}

// TestDiffRolloutGolden pins the diff of the copy-paste rolling update
// against its rollout-block version: the same steps in the same order
// under other addresses, so every step is removed and added.
func TestDiffRolloutGolden(t *testing.T) {
	code, stdout, stderr := plan(t, "diff", rollingUpdate, rolloutPlan)
	if code != 2 || stderr != "" {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	golden(t, filepath.Join("testdata", "rolling-update.diff.rollout.txt.golden"), []byte(stdout))
}

// TestDiffFoldersAndVarFiles: a folder is a plan too, and a -var-file
// applies to both sides; both plans' errors are shown when both are bad.
func TestDiffFoldersAndVarFiles(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(diffNew)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := plan(t, "diff", diffNew, dir); code != 0 || stdout != "No differences.\n" {
		t.Errorf("file against its folder: exit %d\n%s%s", code, stdout, stderr)
	}
	vars := filepath.Join(t.TempDir(), "v.vars")
	if err := os.WriteFile(vars, []byte("version = \"v7\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := plan(t, "diff", "-var-file", vars, diffOld, diffNew)
	if code != 2 || strings.Contains(stdout, "variable.version") || strings.Contains(stdout, "app:v") || !strings.Contains(stdout, "description") {
		t.Errorf("-var-file on both: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = plan(t, "diff", invalidRefs, invalidCycle)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "Reference to undeclared") || !strings.Contains(stderr, "Dependency cycle") {
		t.Errorf("both invalid: exit %d\n%s%s", code, stdout, stderr)
	}
}
