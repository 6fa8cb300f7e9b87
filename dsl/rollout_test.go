package dsl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/steps"
)

const gatePhase = `  gate {
    url      = "http://127.0.0.1:8080/"
    duration = "10s"
  }
`

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
	for _, c := range []struct {
		batch int
		gate  string
	}{{1, ""}, {2, ""}, {256, ""}, {1, gatePhase}, {256, gatePhase}} {
		batch := c.batch
		t.Run(fmt.Sprintf("batch_size=%d,gate=%t", batch, c.gate != ""), func(t *testing.T) {
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
%s}
`, strings.Join(targets, ", "), batch, c.gate)
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
			phases := 4
			if c.gate != "" {
				phases = 5
			}
			if want := phases * ((len(targets) + batch - 1) / batch); (batch > 1 || c.gate != "") && len(g.Waves()) != want {
				t.Errorf("%d waves, want %d", len(g.Waves()), want)
			}
		})
	}
}

// TestRolloutGateStep: the gate phase decodes as a step of the registry's
// gate type, once per batch, with its own timeout; the rollout's group
// holds the gates, so a step after rollout.NAME waits for the last one.
func TestRolloutGateStep(t *testing.T) {
	p, _, diags := load(t, "testdata/valid/rollout-gate.hcl", dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var gates []*dsl.Step
	for _, s := range p.Steps {
		if s.Type == dsl.GatePhase {
			gates = append(gates, s)
		}
	}
	want := []string{"rollout.apps.gate[1]", "rollout.apps.gate[2]", "rollout.apps.gate[3]", "rollout.single.gate[1]", "rollout.single.gate[2]"}
	if len(gates) != len(want) {
		t.Fatalf("%d gate steps, want %d", len(gates), len(want))
	}
	for i, g := range gates {
		if g.Addr != want[i] {
			t.Errorf("gate %d is %s, want %s", i, g.Addr, want[i])
		}
		spec, ok := g.Spec.(*steps.GateSpec)
		if !ok {
			t.Fatalf("%s: spec %T, want *steps.GateSpec", g.Addr, g.Spec)
		}
		if spec.URL.Value != "http://127.0.0.1:8080/" {
			t.Errorf("%s: url %q", g.Addr, spec.URL.Value)
		}
		if g.DeclRange.Start.Line != 31 && g.DeclRange.Start.Line != 55 {
			t.Errorf("%s declared on line %d, want the gate block's", g.Addr, g.DeclRange.Start.Line)
		}
	}
	if d := gates[0].Timeout.Value; d != time.Minute {
		t.Errorf("apps gate timeout %v, want 1m", d)
	}
	if r := gates[0].Spec.(*steps.GateSpec).Rate.Value; r != 20 {
		t.Errorf("apps gate rate %d, want 20", r)
	}
}
