// Tests of nonstop-topology's commands that need no engine: usage errors and
// the messages that tell a newcomer what to do next. up and down against the
// real engine are run by docs/tutorial.md's test (internal/e2e).
package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageAndMissingTopology(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 1, "", "Usage: nonstop-topology [-name NAME] [-dir DIR] up|url|down"},
		{[]string{"sideways"}, 1, "", `unknown command "sideways"`},
		{[]string{"up", "down"}, 1, "", "Usage:"},
		{[]string{"-dir", dir, "url"}, 1, "", "no topology in " + dir + ": start one with nonstop-topology up"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errOut.String(), c.stderr) {
			t.Errorf("%v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stderr ∋ %q", c.args, code, c.code, out.String(), errOut.String(), c.stderr)
		}
	}
}

// TestUpRefusesAnExistingFolder: a second up with the same name must not
// start a second topology over the first one's folder.
func TestUpRefusesAnExistingFolder(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"-name", "taken", "-dir", dir, "up"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), dir+" exists: a topology named taken is up already") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

// TestUpOutsideTheRepository: up copies plans/rolling-update.hcl, so it says
// where to run it from.
func TestUpOutsideTheRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	if code := run([]string{"-dir", filepath.Join(os.TempDir(), "never-made"), "up"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "run it from the repository's root") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

func TestNameFromEnvironment(t *testing.T) {
	t.Setenv("NONSTOP_TOPOLOGY", "mine")
	var out, errOut bytes.Buffer
	run([]string{"url"}, &out, &errOut)
	if want := filepath.Join(os.TempDir(), "mine"); !strings.Contains(errOut.String(), "no topology in "+want) {
		t.Errorf("NONSTOP_TOPOLOGY=mine url: %s", errOut.String())
	}
}
