package e2e

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// shuttingDown counts the nginx container's workers titled "is shutting
// down": old generations still alive after a reload.
func shuttingDown(cli client.APIClient, container string) (int, error) {
	top, err := cli.ContainerTop(context.Background(), container, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range top.Processes {
		if strings.Contains(strings.Join(p, " "), "shutting down") {
			n++
		}
	}
	return n, nil
}

// Issue #5 item 6, second half: long connections (WebSocket-like: a
// request held open for 40 s) through nginx when each app is drained, with
// drain_timeout = 2s. Each drain ends at its timeout with a warning that
// names the connections the old workers still hold (client and upstream
// addresses), the apply goes on and succeeds, and old worker generations
// do not pile up: at no time are more old workers alive than connections
// held, and none is left at the end.
func TestFailureLongConnectionAtDrain(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startSeed(t, cli, seedtopo.Options{StopTimeout: 2 * time.Second})
	plan := writePlanIn(t, topo, "longconn", seedPlanText(topo, seedPlanOptions{DrainTimeout: "2s"}))

	// Four held requests: nginx's round robin alternates app1, app2 within
	// each of its two workers, so whichever way they are accepted, some
	// worker takes two of them and both apps hold at least one.
	const held = 4
	var long []<-chan int
	for i := 0; i < held; i++ {
		long = append(long, slowRequest(topo.URL, 40*time.Second))
	}
	time.Sleep(time.Second) // let them reach the apps

	var peak atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the old workers during the apply
		defer wg.Done()
		for {
			if n, err := shuttingDown(cli, topo.NginxContainer); err == nil && int32(n) > peak.Load() {
				peak.Store(int32(n))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	code, out := runPlan(t, "apply", "-auto-approve", plan)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	t.Logf("plan apply (exit %d, %s):\n%s", code, took.Round(time.Millisecond), out)
	if code != 0 {
		t.Fatalf("exit %d, want 0: a drain timeout is a warning, not a failure", code)
	}
	for _, app := range []string{"app2", "app1"} {
		step := "step.drain." + app
		// The note names the connections: the clients, and the upstream
		// containers (the drained app among them) with their addresses.
		re := regexp.MustCompile(regexp.QuoteMeta(step) + `\s+warning: drain_timeout 2s reached; 1 old nginx worker\(s\) \(pid \d+\) still hold ` +
			`\d client connection\(s\) \(from [0-9.]+\) and \d connection\(s\) to upstreams \([^)]*_` + app + `_1 [0-9.]+:3000`)
		if !re.MatchString(out) {
			t.Errorf("%s: no drain_timeout warning naming the held connections (clients, and %s's container among the upstreams)", step, app)
		}
		// It ended at the timeout, not at the requests' 40 s.
		if d := stepTime(t, out, step); d < 2*time.Second || d > 15*time.Second {
			t.Errorf("%s took %s; want its 2s drain_timeout", step, d)
		}
	}
	serves(t, topo, "v2")

	// Every held request ended when its app was replaced (cut: the drain
	// timed out), so nothing holds an old worker any more.
	for i, ch := range long {
		select {
		case st := <-ch:
			t.Logf("held request %d ended with %d", i, st)
		case <-time.After(30 * time.Second):
			t.Errorf("held request %d still open 30s after the apply", i)
		}
	}
	if p := peak.Load(); p > held {
		t.Errorf("up to %d old nginx workers alive during the apply, for %d held connections: old generations piled up", p, held)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := shuttingDown(cli, topo.NginxContainer)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d old nginx workers still alive after every held connection ended (err %v)", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
