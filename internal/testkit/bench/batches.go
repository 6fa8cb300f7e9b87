// This file holds the batch topologies (issue #14 item 7): twelve replicas
// rolled by plan-apply one at a time and three at a time, to show that a
// batch costs one reload for its drains and one for its restores (fused
// with the next batch's drains), batches + 1 in all, and that the wall
// time shrinks with the batch size instead of staying where it is; and
// plan-apply-dynamic on the same topologies (no reload at all).
package bench

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// The batch topologies; not in AllTopols (a full run of every procedure
// and scenario on twelve replicas is long): pick them with -topologies.
var (
	TwelveBatch1 = Topology{Name: "12-replicas-batch-1", Replicas: 12, BatchSize: 1}
	TwelveBatch3 = Topology{Name: "12-replicas-batch-3", Replicas: 12, BatchSize: 3}
	BatchTopols  = []Topology{TwelveBatch1, TwelveBatch3}
)

var batchSizeRE = regexp.MustCompile(`(?m)^(\s*batch_size\s*=\s*)\d+\s*$`)

// withBatchSize sets the batch_size of plan-apply's generated rollout
// plan; n <= 0 leaves the plan as it is.
func withBatchSize(src string, n int) (string, error) {
	if n <= 0 {
		return src, nil
	}
	if !batchSizeRE.MatchString(src) {
		return "", fmt.Errorf("the rollout plan has no batch_size line to set to %d", n)
	}
	return batchSizeRE.ReplaceAllString(src, "${1}"+strconv.Itoa(n)), nil
}

// batches is how many batches a rollout of replicas in batches of size
// has; reloads = batches + 1 is what plan-apply should make.
func batches(replicas, size int) int {
	if size <= 0 {
		size = 1
	}
	return (replicas + size - 1) / size
}

// wantReloads is the reloads a rollout of replicas in batches of size
// should make with proc: batches + 1 on the reload backend, none with
// plan-apply-dynamic (membership goes through the Lua balancer).
func wantReloads(proc string, replicas, size int) int {
	if proc == PlanApplyDynamic {
		return 0
	}
	return batches(replicas, size) + 1
}

// BatchTable compares plan-apply and plan-apply-dynamic on the batch
// topologies of s: per procedure, scenario and batch size, the median
// wall time, the reloads plan made (from its log: each is a new nginx
// worker generation it saw) against what the backend should make
// (wantReloads), the failed requests, and the wall time against the same
// procedure's batch size 1. Empty when s has no such run.
func BatchTable(s *Suite) string {
	type key struct{ proc, scen, topo string }
	walls := map[key][]time.Duration{}
	reloads := map[key][]int{}
	failed := map[key]int{}
	var order []key
	for _, r := range s.Results {
		if (r.Procedure != PlanApply && r.Procedure != PlanApplyDynamic) || !slices.ContainsFunc(BatchTopols, func(t Topology) bool { return t.Name == r.Topology }) {
			continue
		}
		k := key{r.Procedure, r.Scenario, r.Topology}
		if _, ok := walls[k]; !ok {
			order = append(order, k)
		}
		walls[k] = append(walls[k], r.Wall)
		reloads[k] = append(reloads[k], r.Reloads)
		failed[k] += r.Total.Failed
	}
	if len(order) == 0 {
		return ""
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		if n := len(ds); n%2 == 0 {
			return (ds[n/2-1] + ds[n/2]) / 2
		}
		return ds[len(ds)/2]
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "procedure\tscenario\ttopology\tbatch_size\truns\twall (median)\tvs batch 1\treloads\twant\tfailed\t")
	for _, k := range order {
		topo := TwelveBatch1
		for _, t := range BatchTopols {
			if t.Name == k.topo {
				topo = t
			}
		}
		ratio := "-"
		if base, ok := walls[key{k.proc, k.scen, TwelveBatch1.Name}]; ok && k.topo != TwelveBatch1.Name {
			ratio = fmt.Sprintf("%.2f×", median(walls[k]).Seconds()/median(base).Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1fs\t%s\t%v\t%d\t%d\t\n", k.proc, k.scen, k.topo, topo.BatchSize, len(walls[k]),
			median(walls[k]).Seconds(), ratio, reloads[k], wantReloads(k.proc, topo.Replicas, topo.BatchSize), failed[k])
	}
	_ = tw.Flush()
	return b.String()
}
