package dsl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// TestLockstepIsLinear: a batch of b targets moves in lockstep through one
// barrier per phase, so the plan holds edges linear in the targets, for
// any batch size (b² edges per phase made batch_size = 256 take seconds
// and hundreds of MB). The graph still makes every deploy wait for every
// drain of its batch (TestValidStructure, rollout-batch.hcl).
func TestLockstepIsLinear(t *testing.T) {
	targets := make([]string, 512)
	for i := range targets {
		targets[i] = fmt.Sprintf("%q", fmt.Sprintf("app%d", i))
	}
	for _, batch := range []int{1, 2, 256} {
		t.Run(fmt.Sprintf("batch_size=%d", batch), func(t *testing.T) {
			src := fmt.Sprintf(`
nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = [%s]
  batch_size = %d
  server     = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    docker {}
  }
}
`, strings.Join(targets, ", "), batch)
			path := filepath.Join(t.TempDir(), "plan.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			p, g, diags := load(t, path, dsl.Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			edges := 0
			for _, s := range p.Steps {
				edges += len(s.DependsOn)
			}
			for _, b := range p.Barriers {
				edges += len(b.After)
			}
			if steps := len(p.Steps); edges > 3*steps {
				t.Errorf("%d edges for %d steps: lockstep is not linear", edges, steps)
			}
			if want := 4 * ((len(targets) + batch - 1) / batch); batch > 1 && len(g.Waves()) != want {
				t.Errorf("%d waves, want %d", len(g.Waves()), want)
			}
		})
	}
}
