package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// stepTime reads a step's time from the summary table apply prints.
func stepTime(t *testing.T, out, step string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(step) + `\s+\S+\s+([0-9.]+)s$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no time for %s in the summary:\n%s", step, out)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(f * float64(time.Second))
}

// Issue #5 item 5: the apps ignore SIGTERM (IGNORE_SIGTERM=1) and have a
// stop timeout of 2s. Each old container is killed when its stop timeout
// passes, the apply stays within its budget, and since each app was
// drained first, clients see no error.
func TestFailureIgnoresSIGTERM(t *testing.T) {
	t.Parallel() // with -parallel's bound (GOMAXPROCS), other failure tests run meanwhile
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	const stop = 2 * time.Second
	topo := startSeed(t, cli, seedtopo.Options{AppEnv: map[string]string{"IGNORE_SIGTERM": "1"}, StopTimeout: stop})
	plan := writePlanIn(t, topo, "sigterm", seedPlanText(topo, seedPlanOptions{DeployTimeout: "20s"}))
	l := startLoad(topo.URL, 4)
	start := time.Now()
	code, out := runPlan(t, "apply", "-auto-approve", plan)
	took := time.Since(start)
	l.Stop()
	t.Logf("plan apply (exit %d, %s):\n%s", code, took.Round(time.Millisecond), out)
	t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if n := l.non2xx.Load(); n != 0 {
		t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
	}
	for _, s := range []string{"step.deploy.app2", "step.deploy.app1"} {
		// The old container ignored SIGTERM: its stop took the timeout.
		if d := stepTime(t, out, s); d < stop || d > 20*time.Second {
			t.Errorf("%s took %s; want the %s stop timeout (SIGKILL) and within its 20s budget", s, d, stop)
		}
	}
	if took > 90*time.Second {
		t.Errorf("the apply took %s", took)
	}
	serves(t, topo, "v2")
	for _, a := range topo.Apps {
		c := appContainer(t, cli, a.Container)
		if !strings.Contains(strings.Join(c.Config.Env, " "), "IGNORE_SIGTERM=1") || c.Config.StopTimeout == nil || *c.Config.StopTimeout != 2 {
			t.Errorf("%s: the new container lost the old one's IGNORE_SIGTERM or stop timeout: %v %v", a.Container, c.Config.Env, c.Config.StopTimeout)
		}
	}
	if names := projectContainers(t, cli, topo.Project); len(names) != 3 || strings.Contains(strings.Join(names, " "), "nonstop-old") {
		t.Errorf("containers after apply: %v; want the two apps and nginx, no leftovers", names)
	}
}
