package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// Issue #9: a sensitive value in a health check's expect_headers, which
// the failed probe's error text names, reaches neither the -json events
// and summary, nor stderr, nor the journal.
func TestSensitiveHeaderNeverInJSON(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	const secret = "hdr-s3cr3t-e2e"
	src := seedPlanText(topo, seedPlanOptions{HealthTimeout: "2s", Extra: `
variable "token" {
  type      = string
  sensitive = true
}
`})
	src = strings.Replace(src, `expect_body = "app2,${var.version}"`, `expect_body = "app2,${var.version}"
    expect_headers = { "X-Token" = var.token }`, 1)
	plan := writePlanIn(t, topo, "secret-header", src)
	code, out := runPlan(t, "apply", "-auto-approve", "-json", "-log-level", "debug", "-var", "token="+secret, plan)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (the header never matches):\n%s", code, out)
	}
	// The failed header check must be there (else the test proves nothing),
	// named without its value: the map is sensitive, so even its keys are
	// not shown.
	const failed = "does not have the expected (sensitive) value"
	if !strings.Contains(out, `"type":"apply_summary"`) || !strings.Contains(out, failed) {
		t.Errorf("the -json output lacks the summary or the failed header check:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the output shows the sensitive value:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(stateDirOf(plan), "applies", "*"))
	if len(files) == 0 {
		t.Fatal("no journal")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the sensitive value", f)
		}
		if !strings.Contains(string(b), failed) {
			t.Errorf("%s lacks the failed header check: the test proves nothing about it:\n%s", f, b)
		}
	}
}
