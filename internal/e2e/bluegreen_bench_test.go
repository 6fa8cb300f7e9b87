package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/bench"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestBenchBlueGreen runs plan-bench's blue-green procedure (cut over to
// green under POST keep-alive load, then `plan rollback`) on the seed's
// topology split in two colours: not one non-2xx answer, both phases
// measured, and no more transport errors than its reloads can explain
// (each reload costs each keep-alive client at most the one request it
// sends as the old worker closes the connection).
func TestBenchBlueGreen(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.Config{Docker: cli, PlanBin: planBin, RepoRoot: root, Log: testWriter{t},
		Before: 2 * time.Second, After: 2 * time.Second, Workers: 4}
	res, err := bench.Run(ctx, cfg, bench.Seed, bench.PostKeepAlive, bench.BlueGreen)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != "" {
		t.Fatalf("blue-green failed: %s\n%s", res.Err, res.Output)
	}
	t.Logf("%d requests, %d failed (%s), %d non-2xx, %d reloads, samples %q",
		res.Total.Requests, res.Total.Failed, res.Total.Kinds(), res.Total.Non2xx, res.Reloads, res.Samples)
	if res.Total.Requests < 100 {
		t.Fatalf("the load did not run: %d requests", res.Total.Requests)
	}
	if res.Total.Non2xx != 0 {
		t.Errorf("%d non-2xx answers, want 0: %q", res.Total.Non2xx, res.Samples)
	}
	if res.Reloads < 2 {
		t.Errorf("%d reloads counted; a cut-over and a flip back make at least 2", res.Reloads)
	}
	if limit := res.Reloads * cfg.Workers; res.Total.TransportErrors > limit {
		t.Errorf("%d transport errors, more than the %d that %d reloads can cost %d keep-alive clients", res.Total.TransportErrors, limit, res.Reloads, cfg.Workers)
	}
	seen := map[string]bool{}
	for _, p := range res.Phases {
		seen[p.Label] = true
		t.Logf("phase %s: %s, %d requests, %d failed", p.Label, (p.To - p.From).Round(time.Millisecond), p.Requests, p.Failed)
	}
	if !seen[bench.BlueGreenCutover] || !seen[bench.BlueGreenRollback] {
		t.Errorf("phases %v; want %s and %s measured", res.Phases, bench.BlueGreenCutover, bench.BlueGreenRollback)
	}
}
