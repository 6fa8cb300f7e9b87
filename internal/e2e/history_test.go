package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/runner"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// Issue #12 item 3: an apply of the seed plan leaves one history record:
// applied, with the digest of the image the deploy put in place, the
// variables (the sensitive one hidden) and each step's time.
func TestHistoryAfterApply(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	const secret = "hist-s3cr3t-e2e"
	plan := writePlanIn(t, topo, "history", seedPlanText(topo, seedPlanOptions{Extra: `
variable "token" {
  type      = string
  sensitive = true
}
`}))
	if code, out := runPlan(t, "apply", "-auto-approve", "-var", "token="+secret, plan); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	code, out := runPlan(t, "history", "-json", plan)
	if code != 0 {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
	// The stream: the version message, then one history_record message.
	var records []runner.HistoryRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var msg struct {
			Type   string               `json:"type"`
			Record runner.HistoryRecord `json:"record"`
		}
		if json.Unmarshal([]byte(l), &msg) == nil && msg.Type == "history_record" {
			records = append(records, msg.Record)
		}
	}
	if len(records) != 1 {
		t.Fatalf("want one record, got:\n%s", out)
	}
	r := records[0]
	if r.Kind != runner.KindApply || r.Outcome != runner.OutcomeApplied || r.ExitCode != 0 || len(r.Steps) == 0 || r.User == "" {
		t.Errorf("record %+v", r)
	}
	digest := ""
	for _, im := range r.Images {
		if im.ImageDigest != "" && !im.Undone {
			digest = im.ImageDigest
		}
	}
	for _, im := range r.Images {
		if !strings.HasPrefix(im.OldImageID, "sha256:") || im.OldImage == "" {
			t.Errorf("the image before is not recorded: %+v", im)
		}
	}
	if !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("no image digest in %+v", r.Images)
	}
	vars := map[string]string{}
	for _, v := range r.Variables {
		vars[v.Name] = v.Value
	}
	if vars["version"] != `"v2"` || vars["token"] != runner.Hidden {
		t.Errorf("variables %+v", r.Variables)
	}
	b, err := os.ReadFile(runner.HistoryPath(stateDirOf(plan)))
	if err != nil || strings.Contains(string(b), secret) {
		t.Errorf("the history holds the sensitive value (or cannot be read: %v)", err)
	}
	code, out = runPlan(t, "history", r.ID[:12], plan)
	if code != 0 || !strings.Contains(out, digest) || !strings.Contains(out, "applied (exit 0)") {
		t.Errorf("history ID: exit %d\n%s", code, out)
	}
}
