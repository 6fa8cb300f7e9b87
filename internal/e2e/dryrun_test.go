package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestDryRunDetailedExitcode: on the seed topology, `apply -dry-run
// -detailed-exitcode` says changes are pending (exit 2) and changes
// nothing; once applied, the same dry run finds every step up to date
// (exit 0), as the live engine and nginx now are. Before the apply, each
// step's line says what it would change, read from the live container
// and nginx config: image and env before → after, the server line before
// → after; a sensitive value never shows. The prompt of a real apply
// shows the same before it asks.
func TestDryRunDetailedExitcode(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	const secret = "dry-s3cr3t-e2e"
	plan := writePlanIn(t, topo, "dryrun", seedPlanText(topo, seedPlanOptions{App2Env: `TOKEN = var.token`, Extra: `
variable "token" {
  type      = string
  sensitive = true
}
`}))

	code, out := runPlan(t, "apply", "-dry-run", "-detailed-exitcode", "-var", "token="+secret, plan)
	if code != 2 {
		t.Fatalf("dry run before apply: exit %d, want 2 (changes pending)\n%s", code, out)
	}
	for _, w := range []string{
		"Nothing was changed (-dry-run)", "8 to run, 0 up to date",
		// the live image by name and ID, the plan's image after
		"image " + topo.Images.App + " (sha256:",
		`env MESSAGE "app1,v1" → "app1,v2"`,
		// app2's env derives from a sensitive variable: hidden both sides
		"env TOKEN (sensitive) → (sensitive)",
		"upstream apps: server app2:3000; → server app2:3000 down;",
		"upstream apps: server app1:3000 down; (after the drain) → server app1:3000;",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run before apply lacks %q:\n%s", w, out)
		}
	}
	t.Logf("dry run before apply:\n%s", out)
	if strings.Contains(out, secret) {
		t.Errorf("the dry run printed the sensitive value:\n%s", out)
	}
	// The same as markdown, for a pull-request comment.
	code, out = runPlan(t, "apply", "-dry-run", "-detailed-exitcode", "-format", "markdown", "-var", "token="+secret, plan)
	if code != 2 || strings.Contains(out, secret) {
		t.Fatalf("markdown dry run: exit %d, want 2, no secret\n%s", code, out)
	}
	for _, w := range []string{"| Step | Action | Change |", "`env MESSAGE` \"app1,v1\" → \"app1,v2\"", "| `step.health_check.app2` | run |"} {
		if !strings.Contains(out, w) {
			t.Errorf("markdown dry run lacks %q:\n%s", w, out)
		}
	}
	// Without -auto-approve the prompt shows the same changes before it
	// asks; off a terminal it then refuses.
	code, out = runPlan(t, "apply", "-var", "token="+secret, plan)
	if code != 1 || !strings.Contains(out, "needs confirmation") {
		t.Fatalf("apply without -auto-approve off a terminal: exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{"What apply would do:", `env MESSAGE "app1,v1" → "app1,v2"`, "server app2:3000; → server app2:3000 down;"} {
		if !strings.Contains(out, w) {
			t.Errorf("the prompt lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, secret) {
		t.Errorf("the prompt printed the sensitive value:\n%s", out)
	}
	// Neither changed anything: the seed still serves v1 on both.
	serves(t, topo, "v1")

	if code, out := runPlan(t, "apply", "-auto-approve", "-var", "token="+secret, plan); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}

	code, out = runPlan(t, "apply", "-dry-run", "-detailed-exitcode", "-var", "token="+secret, plan)
	if code != 0 || !strings.Contains(out, "Nothing to do") || strings.Contains(out, "will run") {
		t.Fatalf("dry run after apply: exit %d, want 0 with every step up to date\n%s", code, out)
	}
	code, out = runPlan(t, "apply", "-dry-run", "-detailed-exitcode", "-json", "-var", "token="+secret, plan)
	if code != 0 {
		t.Fatalf("-json dry run after apply: exit %d\n%s", code, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type   string `json:"type"`
			Change struct{ Step, Action string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m.Type == "planned_change" {
			n++
			if m.Change.Action != "skip" {
				t.Errorf("%s: action %q after apply, want skip", m.Change.Step, m.Change.Action)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d planned_change messages, want one per step (8):\n%s", n, out)
	}
}
