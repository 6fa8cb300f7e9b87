package e2e

// This file measures what shared state costs an apply: the seed's rolling
// update, with its state next to the plan and in the nginx container
// (state = nginx.proxy), the same number of times each on one topology,
// versions alternating so every apply changes both apps. Run with
//
//	go test -run NONE -bench SharedState -benchtime 4x ./internal/e2e/
//
// The difference is the lock's session (one exec), the pull of the
// newest journal, and one round trip per journal record (about 30 records
// for this plan; internal/targetstate's BenchmarkAppend times one).

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func BenchmarkSharedState(b *testing.B) {
	cli := testenv.Docker(b)
	testenv.NginxBinary(b)
	topo := startShellSeed(b, cli)
	local := seedPlan(b, topo, "rolling-update.hcl", containerPathEdit...)
	shared := runnerCheckout(b, seedPlan(b, topo, "rolling-update.hcl", append(slices.Clone(containerPathEdit), sharedStateEdit...)...), "shared")
	n := 0
	for _, bc := range []struct{ name, plan string }{{"local", local}, {"shared", shared}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n++
				args := append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), "-var", fmt.Sprintf("version=b%d", n), bc.plan)
				if code, out := runPlan(b, args...); code != 0 {
					b.Fatalf("apply exited %d:\n%s", code, out)
				}
			}
		})
	}
}
