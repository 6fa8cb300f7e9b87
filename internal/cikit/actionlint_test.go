// This file lints the shipped workflow with actionlint v1.7.12 (go.mod pins
// it): a finding of any rule fails the test, shellcheck's included when the
// machine has shellcheck.
package cikit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// workflowPath is the kit's workflow, from this package's folder.
var workflowPath = filepath.Join("..", "..", "docs", "ci", "plan.yml")

func TestWorkflowPassesActionlint(t *testing.T) {
	src, err := os.ReadFile(workflowPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever, Oneline: true}
	// shellcheck checks the run: scripts. Debian's is installed by
	// `apt-get install shellcheck`; without it actionlint skips that rule,
	// which CI must not do silently.
	if p, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = p
	} else if testenv.InCI() {
		t.Fatal("CI=true but shellcheck is not installed (apt-get install -y shellcheck): actionlint would not check the workflow's scripts")
	} else {
		t.Log("shellcheck is not installed: actionlint checks the workflow without it")
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Linted as the file users create: .github/workflows/plan.yml. The
	// content alone (no project around it) keeps actionlint from reading
	// this repository's configuration.
	errs, err := l.Lint(".github/workflows/plan.yml", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problem(s) in %s:\n%s", len(errs), workflowPath, out.String())
	}
}

// TestActionlintCatchesProblems proves the linter above is live: the same
// call on a broken copy of the workflow reports its problems.
func TestActionlintCatchesProblems(t *testing.T) {
	src, err := os.ReadFile(workflowPath)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "uses: actions/checkout@v6", "uses: actions/checkout@v6\n        with: {reff: main}", 1)
	broken = strings.Replace(broken, "needs: check", "needs: chek", 1)
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever, Oneline: true})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(".github/workflows/plan.yml", []byte(broken), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`input "reff" is not defined`, `"chek"`} {
		if !strings.Contains(got, want) {
			t.Errorf("actionlint did not report %q; it reported %d problem(s):\n%s", want, len(errs), got)
		}
	}
}
