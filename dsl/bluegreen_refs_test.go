package dsl_test

// This file tests that a blue_green's phases wait for the steps their
// bodies refer to.

import (
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

func TestBlueGreenPhaseRefs(t *testing.T) {
	p, _, diags := load(t, "testdata/valid/blue-green-refs.hcl", dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, target := range []string{"b1", "g1"} {
		s := p.Step(dsl.BlueGreenAddr("web", "deploy", target))
		if s == nil {
			t.Fatalf("no deploy of %s", target)
		}
		var found bool
		for _, d := range s.DependsOn {
			if d.Addr == "step.deploy.worker" {
				found = d.Implicit
			}
		}
		if !found {
			t.Errorf("%s depends on %+v; want an implicit dependency on step.deploy.worker, whose image it reads", s.Addr, s.DependsOn)
		}
	}
	// The health checks refer to nothing: they wait for their deploy only.
	hc := p.Step(dsl.BlueGreenAddr("web", "health_check", "b1"))
	if len(hc.DependsOn) != 1 {
		t.Errorf("%s depends on %+v; want its deploy only", hc.Addr, hc.DependsOn)
	}
}
