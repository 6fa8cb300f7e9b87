// This file tests the batch topologies' plan and table (batches.go).
package bench

import (
	"strings"
	"testing"
	"time"
)

// The generated 12-app plan gets the topology's batch_size, and the table
// sets each batch size's reloads beside batches + 1 and its wall time
// beside batch size 1's.
func TestBatchPlanAndTable(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := PlanSource(root, 12)
	if err != nil {
		t.Fatal(err)
	}
	three, err := withBatchSize(src, 3)
	if err != nil || !strings.Contains(three, "batch_size = 3\n") || strings.Contains(three, "batch_size = 1\n") {
		t.Fatalf("batch_size 3: %v\n%s", err, three)
	}
	// plan-apply-dynamic's plan takes the batch size too (planApplyDynamic).
	dyn, err := DynamicPlanSource(root, 12)
	if err == nil {
		dyn, err = withBatchSize(dyn, 3)
	}
	if err != nil || !strings.Contains(dyn, "batch_size = 3\n") || !strings.Contains(dyn, `mode          = "dynamic"`) {
		t.Fatalf("dynamic plan with batch_size 3: %v\n%s", err, dyn)
	}
	if _, err := withBatchSize("rollout {}", 3); err == nil {
		t.Error("a plan without batch_size was accepted")
	}
	if batches(12, 3) != 4 || batches(12, 1) != 12 || batches(5, 2) != 3 {
		t.Error("batches")
	}
	r := func(topo string, wall time.Duration, reloads int) Result {
		return Result{Procedure: PlanApply, Topology: topo, Replicas: 12, Scenario: "post-keepalive", Wall: wall, Reloads: reloads}
	}
	tbl := BatchTable(&Suite{Results: []Result{r("seed", time.Second, 3), r(TwelveBatch1.Name, 20*time.Second, 13), r(TwelveBatch3.Name, 8*time.Second, 5)}})
	lines := strings.Split(strings.TrimSpace(tbl), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "0.40×") || !strings.Contains(lines[2], "[5]") || !strings.Contains(lines[1], "[13]") || strings.Contains(tbl, "seed") {
		t.Errorf("table:\n%s", tbl)
	}
	// plan-apply-dynamic gets its own rows, compared with its own batch
	// size 1, and should make no reload.
	d := func(topo string, wall time.Duration) Result {
		res := r(topo, wall, 0)
		res.Procedure = PlanApplyDynamic
		return res
	}
	tbl = BatchTable(&Suite{Results: []Result{r(TwelveBatch1.Name, 20*time.Second, 13), d(TwelveBatch1.Name, 10*time.Second), d(TwelveBatch3.Name, 4*time.Second)}})
	lines = strings.Split(strings.TrimSpace(tbl), "\n")
	if len(lines) != 4 || !strings.HasPrefix(strings.TrimSpace(lines[3]), PlanApplyDynamic) || !strings.Contains(lines[3], "0.40×") || !strings.Contains(lines[3], "[0]") || !strings.Contains(lines[1], " 13 ") {
		t.Errorf("table with plan-apply-dynamic:\n%s", tbl)
	}
	if wantReloads(PlanApplyDynamic, 12, 3) != 0 || wantReloads(PlanApply, 12, 3) != 5 {
		t.Error("wantReloads")
	}
	if BatchTable(&Suite{Results: []Result{r("seed", time.Second, 3)}}) != "" {
		t.Error("a table without batch runs")
	}
}
