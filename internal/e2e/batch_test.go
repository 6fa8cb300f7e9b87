package e2e

// This file tests issue #14 item 7 against a real engine and nginx: a
// rollout batch's drains are one reload, its restores are fused with the
// next batch's drains into one, so a rollout reloads nginx batches + 1
// times, under load without a failed request; a failing batch rolls back
// to the byte-identical nginx.conf.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// batchPlan rolls every app of topo to version in batches of size, with
// an HTTP health check that a FAIL=1 app (failing) never passes.
func batchPlan(topo *seedtopo.Topology, size int, version, failing string) string {
	var targets []string
	for _, a := range topo.Apps {
		targets = append(targets, strconv.Quote(a.Service))
	}
	return fmt.Sprintf(`
docker "local" {
  compose_project = %q
}

nginx "proxy" {
  container     = %q
  config        = %q
  upstream      = "apps"
  drain_timeout = "10s"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = [%s]
  batch_size = %d
  server     = "${target}:3000"

  deploy {
    image = %q
    env   = { MESSAGE = "${target},%s", FAIL = target == %q ? "1" : "0" }
  }

  health_check {
    http {
      port = 3000
    }
    interval = "200ms"
    timeout  = "6s"
  }
}
`, topo.Project, topo.NginxContainer, topo.ConfigPath, strings.Join(targets, ", "), size, topo.Images.App, version, failing)
}

// gatedBatchPlan is batchPlan with a gate through nginx after each batch.
func gatedBatchPlan(topo *seedtopo.Topology, size int, version string) string {
	src := batchPlan(topo, size, version, "none")
	gate := fmt.Sprintf(`
  gate {
    url      = %q
    duration = "1s"
    rate     = 50
  }
}
`, topo.URL)
	return strings.TrimSuffix(strings.TrimRight(src, "\n"), "}") + strings.TrimPrefix(gate, "\n")
}

// generations watches the nginx container's live worker processes (not
// the ones shutting down) until stopped: nginx starts a new worker
// generation at every reload (the seed runs worker_processes 1), and every
// generation of a rollout lives at least through a deploy, so a poll
// every 50ms sees each one.
type generations struct {
	mu   sync.Mutex
	pids []string
	errs int
	stop chan struct{}
	done chan struct{}
}

func watchGenerations(cli client.APIClient, container string) *generations {
	g := &generations{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			g.poll(cli, container)
			select {
			case <-g.stop:
				g.poll(cli, container)
				return
			case <-tick.C:
			}
		}
	}()
	return g
}

func (g *generations) poll(cli client.APIClient, container string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	top, err := cli.ContainerTop(ctx, container, nil)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.errs++
		return
	}
	pid, cmd := -1, -1
	for i, h := range top.Titles {
		switch h {
		case "PID":
			pid = i
		case "CMD", "COMMAND":
			cmd = i
		}
	}
	for _, p := range top.Processes {
		line := strings.Join(p[cmd:], " ")
		if strings.Contains(line, "worker process") && !strings.Contains(line, "shutting down") && !slices.Contains(g.pids, p[pid]) {
			g.pids = append(g.pids, p[pid])
		}
	}
}

// reloads stops the watch and returns the number of reloads it saw: the
// worker generations past the first.
func (g *generations) reloads(t *testing.T) int {
	t.Helper()
	close(g.stop)
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.errs > 3 {
		t.Errorf("listing nginx's processes failed %d times: the reload count may miss some", g.errs)
	}
	t.Logf("nginx worker generations seen: %v", g.pids)
	return len(g.pids) - 1
}

// Issue #14 item 7: six replicas in batches of three under keep-alive POST
// load. A failing second batch rolls everything back to the byte-identical
// nginx.conf without a non-2xx answer, a batch at a time (5 reloads in
// all, not 11); a healthy rollout answers 0 non-2xx and reloads nginx 3
// times (2 batches + 1), counted from nginx's own worker generations,
// instead of 12.
func TestBatchRollout(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{Replicas: 6, StopTimeout: 3 * time.Second})
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(t *testing.T, name, src string) (int, string, *load, int) {
		plan := writePlanIn(t, topo, name, src)
		gens := watchGenerations(cli, topo.NginxContainer)
		l := startLoad(topo.URL, 4)
		code, out := runPlan(t, "apply", "-auto-approve", plan)
		l.Stop()
		n := gens.reloads(t)
		t.Logf("plan apply (exit %d):\n%s", code, out)
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if l.requests.Load() < 100 {
			t.Errorf("only %d requests during the apply: the load did not run", l.requests.Load())
		}
		if n := l.non2xx.Load(); n != 0 {
			t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
		}
		return code, out, l, n
	}

	t.Run("failing batch rolls back", func(t *testing.T) {
		code, out, _, reloads := apply(t, "batch-fail", batchPlan(topo, 3, "v2", "app5"))
		if code != 2 {
			t.Fatalf("exit code %d, want 2 (failed and rolled back)", code)
		}
		// Applying: batch 1's drains, its restores with batch 2's drains;
		// rolling back: batch 2's drains, batch 1's restores, its drains.
		if reloads != 5 {
			t.Errorf("nginx reloaded %d times, want 5 (2 applying, 3 rolling back)", reloads)
		}
		if !strings.Contains(out, `rollout.apps["app5"].health_check`) {
			t.Errorf("the output does not name app5's health check")
		}
		after, _ := os.ReadFile(topo.ConfigPath)
		if !bytes.Equal(before, after) {
			t.Errorf("nginx.conf not byte-identical after the rollback:\n--- before\n%s\n--- after\n%s", before, after)
		}
		got := answers(t, topo, 24)
		for i := 1; i <= 6; i++ {
			if got[fmt.Sprintf("Hi there, I love ! app%d,v1", i)] == 0 {
				t.Errorf("after the rollback nginx answers %v; want app1..app6 at v1", got)
				break
			}
		}
	})

	t.Run("healthy rollout", func(t *testing.T) {
		code, out, _, reloads := apply(t, "batch-ok", batchPlan(topo, 3, "v2", "none"))
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if reloads != 3 {
			t.Errorf("nginx reloaded %d times, want 3 (2 batches + 1)", reloads)
		}
		if n := strings.Count(out, "in one change with the rest of its batch"); n != 6 {
			t.Errorf("%d restores say they were made with their batch, want 6", n)
		}
		after, _ := os.ReadFile(topo.ConfigPath)
		if !bytes.Equal(before, after) {
			t.Errorf("nginx.conf changed:\n--- before\n%s\n--- after\n%s", before, after)
		}
		got := answers(t, topo, 24)
		if len(got) != 6 {
			t.Errorf("after the apply nginx answers %v; want app1..app6 at v2", got)
		}
		for body := range got {
			if !strings.HasSuffix(body, ",v2") {
				t.Errorf("after the apply nginx answers %q", body)
			}
		}
	})

	// A gate after each batch must see the batch's restores live before
	// the next drains: they are not fused across it, so each batch costs
	// two reloads, its drains' and its restores'.
	t.Run("gated batches", func(t *testing.T) {
		code, out, _, reloads := apply(t, "batch-gated", gatedBatchPlan(topo, 3, "v3"))
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if reloads != 4 {
			t.Errorf("nginx reloaded %d times, want 4 (2 batches, 2 each)", reloads)
		}
		if n := strings.Count(out, "passed: "); n != 2 {
			t.Errorf("%d gate verdicts, want 2", n)
		}
		after, _ := os.ReadFile(topo.ConfigPath)
		if !bytes.Equal(before, after) {
			t.Errorf("nginx.conf changed:\n%s", after)
		}
		for body := range answers(t, topo, 24) {
			if !strings.HasSuffix(body, ",v3") {
				t.Errorf("after the apply nginx answers %q", body)
			}
		}
	})
}

// A group's steps keep their own journal records, so an apply killed in
// the middle of one (after some intents, after some checkpoints, after a
// restore is done and its fused drains not) is put back by `plan
// rollback` step by step: every container as it was, nginx.conf byte for
// byte, the old version answering. Four apps in batches of two: group 1
// is batch 1's drains, group 2 batch 1's restores with batch 2's drains.
func TestBatchKilledMidGroup(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{Replicas: 4, StopTimeout: 3 * time.Second})
	plan := writePlanIn(t, topo, "batch-killed", batchPlan(topo, 2, "r0", "none"))

	// A full apply tells which records the groups write: the same number
	// of records comes before each group in every apply of this plan.
	code, out := runPlan(t, "apply", "-auto-approve", plan)
	if code != 0 {
		t.Fatalf("reference apply exited %d:\n%s", code, out)
	}
	ref := journal(stateDirOf(plan))
	type point struct{ kind, step string }
	var kills []int
	var want []point
	in := func(e executor.Entry, steps ...string) bool {
		for _, s := range steps {
			if e.Step == fmt.Sprintf(`rollout.apps[%q].%s`, strings.Split(s, ".")[0], strings.Split(s, ".")[1]) {
				return true
			}
		}
		return false
	}
	for n, e := range ref {
		switch {
		case e.Kind == executor.KindCheckpoint && in(e, "app1.drain"), // group 1, one checkpoint of two
			e.Kind == executor.KindIntent && in(e, "app2.restore"), // group 2: intents of two of four
			e.Kind == executor.KindCheckpoint && in(e, "app1.restore", "app2.restore", "app3.drain", "app4.drain"),
			e.Kind == executor.KindDone && in(e, "app1.restore", "app2.restore") && len(want) > 0 && want[len(want)-1].kind == executor.KindCheckpoint:
			kills, want = append(kills, n+1), append(want, point{e.Kind, e.Step})
		}
	}
	if len(kills) != 7 {
		t.Fatalf("kill points %v (%v) in the reference journal, want 7", kills, want)
	}
	version := "r0"
	for k, n := range kills {
		before := checkClean(t, cli, topo)
		next := fmt.Sprintf("r%d", k+1)
		if err := os.WriteFile(plan, []byte(batchPlan(topo, 2, next, "none")), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runPlanEnv(t, []string{"PLAN_TEST_KILL_AFTER_RECORD=" + strconv.Itoa(n)}, "apply", "-auto-approve", plan)
		if code == 0 {
			t.Fatalf("record %d: apply ran through:\n%s", n, out)
		}
		entries := journal(stateDirOf(plan))
		if len(entries) != n {
			t.Fatalf("record %d: the journal holds %d records", n, len(entries))
		}
		if last := entries[n-1]; last.Kind != want[k].kind || (last.Kind != executor.KindDone && last.Step != want[k].step) {
			t.Errorf("record %d is %s %s, want %s %s: the groups' records moved", n, last.Kind, last.Step, want[k].kind, want[k].step)
		}
		gens := watchGenerations(cli, topo.NginxContainer)
		code, out = runPlan(t, "rollback", plan)
		reloads := gens.reloads(t)
		if code != 0 || !strings.Contains(out, "Rolled back apply") {
			t.Fatalf("record %d (%s %s): plan rollback exited %d:\n%s", n, want[k].kind, want[k].step, code, out)
		}
		// Killed with batch 1 drained, deployed and checked: its two
		// drains are put back in one change, as apply's own rollback does.
		if want[k].kind == executor.KindIntent && reloads != 1 {
			t.Errorf("record %d (%s %s): plan rollback reloaded nginx %d times, want 1 (batch 1's drains as one)", n, want[k].kind, want[k].step, reloads)
		}
		t.Logf("killed after record %d (%s %s), then rolled back:\n%s", n, entries[n-1].Kind, entries[n-1].Step, out)
		sameSnapshot(t, before, takeSnapshot(t, cli, topo))
		serves(t, topo, version)
		if t.Failed() {
			t.Fatalf("record %d (%s %s): rollback output:\n%s", n, want[k].kind, want[k].step, out)
		}
	}
}
