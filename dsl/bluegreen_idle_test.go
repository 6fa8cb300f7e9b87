package dsl_test

// This file tests a blue_green's idle attribute: the form the idle colour
// is kept in reaches the model and the cut-over step's attributes.

import (
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

func TestBlueGreenIdle(t *testing.T) {
	for file, want := range map[string]string{"blue-green.hcl": dsl.IdleDown, "blue-green-backup.hcl": dsl.IdleBackup} {
		p, _, diags := load(t, "testdata/valid/"+file, dsl.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if len(p.BlueGreens) != 1 || p.BlueGreens[0].Idle != want {
			t.Errorf("%s: idle %+v, want %q", file, p.BlueGreens, want)
		}
		cut := p.Step(dsl.BlueGreenAddr("web", dsl.CutoverType, ""))
		var got string
		for _, a := range cut.Spec.Describe() {
			if a.Name == "idle" {
				got = a.Value
			}
		}
		if got != want {
			t.Errorf("%s: the cut-over describes idle as %q, want %q", file, got, want)
		}
	}
}
