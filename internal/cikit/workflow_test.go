// This file runs the kit's workflow: the check job's steps and the comment
// job's script, in order, with bash, the plan built from this tree and a gh
// stand-in (testdata/gh), on a scratch checkout of a pull request.
package cikit

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// newRunner builds plan, puts it and the gh stand-in on PATH, and lays out
// a workspace with the pull request's plan (head; "" writes none) and the
// base branch's (.nonstop-base/, as the workflow checks it out); base ""
// means the plan is new.
func newRunner(t *testing.T, head, base string) (*fakeRunner, string) {
	t.Helper()
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if testenv.InCI() {
				t.Fatalf("CI=true but %s is not installed (apt-get install -y %s)", tool, tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	wf := loadWorkflow(t)
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "plan"), "github.com/nonstop-deploy/nonstop/cmd/plan").CombinedOutput(); err != nil {
		t.Fatalf("building plan: %v\n%s", err, out)
	}
	gh, err := os.ReadFile(filepath.Join("testdata", "gh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "gh"), gh, 0o755); err != nil {
		t.Fatal(err)
	}
	ghDir := t.TempDir()
	human := `[{"id": 1, "user": {"login": "alice"}, "body": "<!-- nonstop-plan: plans/rolling-update.hcl --> quoted by a human"},
	{"id": 2, "user": {"login": "github-actions[bot]"}, "body": "another workflow's comment"}]`
	if err := os.WriteFile(filepath.Join(ghDir, "comments.json"), []byte(human), 0o644); err != nil {
		t.Fatal(err)
	}

	planPath := ""
	if v := wf.Env.Vars["nonstop_plan"]; v != nil {
		planPath = v.Value.Value
	}
	if planPath == "" {
		t.Fatal("the workflow sets no NONSTOP_PLAN")
	}
	ws := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(ws, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if head != "" {
		write(planPath, head)
	}
	if base != "" {
		write(filepath.Join(".nonstop-base", planPath), base)
	}
	temp, home := t.TempDir(), t.TempDir()
	r := &fakeRunner{
		t: t, wf: wf, workspace: ws, temp: temp, bin: bin, home: home,
		env: []string{
			"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
			"HOME=" + home, "RUNNER_TEMP=" + temp, "GITHUB_WORKSPACE=" + ws,
			"GITHUB_REPOSITORY=nonstop-user/deploys", "GITHUB_STEP_SUMMARY=" + filepath.Join(temp, "summary.md"),
			"FAKE_GH_DIR=" + ghDir,
		},
		ctx: map[string]string{
			"github.token":                       "fake-token",
			"github.event.pull_request.number":   "7",
			"github.event.pull_request.head.sha": "0123abc",
			"github.event.pull_request.base.sha": "fedc987",
			"needs.dry-run.outputs.review":       "",
			"needs.dry-run.result":               "skipped",
		},
	}
	return r, ghDir
}

// repoPlan is the repository's rolling update, with its version default.
func repoPlan(t *testing.T, version string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "plans", "rolling-update.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `default     = "v2"`, `default     = "`+version+`"`, 1)
	if version != "v2" && s == string(b) {
		t.Fatal("plans/rolling-update.hcl no longer has the version default this test edits")
	}
	return s
}

type comment struct {
	ID   int                    `json:"id"`
	User struct{ Login string } `json:"user"`
	Body string                 `json:"body"`
}

func comments(t *testing.T, ghDir string) []comment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ghDir, "comments.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []comment
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestWorkflowReviewsAPullRequest: a valid change (v2 → v3) passes the
// checks, and the review holds exactly what plan show and plan diff print;
// the comment job posts one comment, and its second run edits it.
func TestWorkflowReviewsAPullRequest(t *testing.T) {
	r, ghDir := newRunner(t, repoPlan(t, "v3"), repoPlan(t, "v2"))
	check := r.runJob("check")
	if check.failed {
		t.Fatalf("check failed on a valid, formatted plan")
	}
	if got := check.step(t, "validate").stdout; got != "Success! The plan is valid.\n" {
		t.Errorf("validate printed %q", got)
	}
	if o := check.step(t, "fmt").outputs["code"]; o != "0" {
		t.Errorf("fmt code output %q", o)
	}
	review := check.outputs["review"]
	for _, args := range [][]string{
		{"show", "-format", "markdown", "-no-color", "plans/rolling-update.hcl"},
		{"diff", "-format", "markdown", "-no-color", ".nonstop-base/plans/rolling-update.hcl", "plans/rolling-update.hcl"},
	} {
		cmd := exec.Command(filepath.Join(r.bin, "plan"), args...)
		cmd.Dir, cmd.Env = r.workspace, r.env
		out, _ := cmd.Output()
		if len(out) < 50 || !strings.Contains(review, strings.TrimSpace(string(out))) {
			t.Errorf("the review lacks plan %s's output:\n%s\n--- review:\n%s", strings.Join(args, " "), out, review)
		}
	}
	if !strings.Contains(review, `"v2"`) || !strings.Contains(review, `"v3"`) {
		t.Errorf("the review's diff does not show v2 → v3:\n%s", review)
	}

	r.ctx["needs.check.outputs.review"] = review
	if c := r.runJob("comment"); c.failed {
		t.Fatal("the comment job failed")
	}
	cs := comments(t, ghDir)
	if len(cs) != 3 || cs[2].User.Login != "github-actions[bot]" {
		t.Fatalf("after the first run, want the two old comments and a new one: %+v", cs)
	}
	marker := "<!-- nonstop-plan: plans/rolling-update.hcl -->"
	first := cs[2].Body
	for _, want := range []string{marker + "\n", "at 0123abc", review, "Not run (the dry-run job: skipped)."} {
		if !strings.Contains(first, want) {
			t.Errorf("the comment lacks %q:\n%s", want, first)
		}
	}
	if !strings.HasPrefix(first, marker) {
		t.Errorf("the comment does not start with its marker:\n%s", first)
	}

	// A new push: the dry-run ran this time. The same comment is edited.
	r.ctx["needs.dry-run.outputs.review"] = "#### What apply would change\n\n8 to run, 0 up to date."
	r.ctx["needs.dry-run.result"] = "success"
	if c := r.runJob("comment"); c.failed {
		t.Fatal("the comment job failed on its second run")
	}
	cs = comments(t, ghDir)
	if len(cs) != 3 || cs[2].ID != 1002 {
		t.Fatalf("the second run added a comment instead of editing: %+v", cs)
	}
	if !strings.Contains(cs[2].Body, "8 to run, 0 up to date.") || strings.Contains(cs[2].Body, "Not run") {
		t.Errorf("the edited comment:\n%s", cs[2].Body)
	}
	if cs[0].Body != "<!-- nonstop-plan: plans/rolling-update.hcl --> quoted by a human" {
		t.Errorf("a human's comment was changed: %q", cs[0].Body)
	}
	calls, err := os.ReadFile(filepath.Join(ghDir, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(calls), "--method POST"); n != 1 {
		t.Errorf("%d POSTs, want 1:\n%s", n, calls)
	}
	if n := strings.Count(string(calls), "--method PATCH repos/nonstop-user/deploys/issues/comments/1002"); n != 1 {
		t.Errorf("want 1 PATCH of comment 1002:\n%s", calls)
	}
}

// TestWorkflowFailsABrokenPlan: a new, unformatted plan with a typo fails
// the check job, after annotating the typo's line and writing the review.
func TestWorkflowFailsABrokenPlan(t *testing.T) {
	broken := strings.Replace(repoPlan(t, "v3"), `"app2,${var.version}" }`, `"app2,${var.verison}" }`, 1)
	broken = strings.Replace(broken, "  upstream      = \"apps\"", "  upstream = \"apps\"", 1)
	r, _ := newRunner(t, broken, "")
	check := r.runJob("check")
	if !check.failed {
		t.Fatal("check passed on a broken plan")
	}
	fmtStep := check.step(t, "fmt")
	if fmtStep.code != 0 || fmtStep.outputs["code"] != "3" || !strings.Contains(fmtStep.stdout, "::error title=plan fmt::plans/rolling-update.hcl is not in the canonical format") {
		t.Errorf("fmt step: exit %d, outputs %v:\n%s", fmtStep.code, fmtStep.outputs, fmtStep.stdout)
	}
	v := check.step(t, "validate")
	if v.code != 0 || v.outputs["code"] != "1" ||
		!strings.Contains(v.stdout, "::error file=plans/rolling-update.hcl,line=") ||
		!strings.Contains(v.stdout, `Did you mean "version"?`) {
		t.Errorf("validate step: exit %d, outputs %v:\n%s", v.code, v.outputs, v.stdout)
	}
	rv := check.step(t, "review")
	if rv.code == 0 {
		t.Error("the review step passed with failed checks")
	}
	for _, want := range []string{"**not formatted** (exit 3)", "**invalid** (exit 1)", "Reference to undeclared input variable", "A new plan: the base branch has no `plans/rolling-update.hcl`."} {
		if !strings.Contains(check.outputs["review"], want) {
			t.Errorf("the review lacks %q:\n%s", want, check.outputs["review"])
		}
	}
}
