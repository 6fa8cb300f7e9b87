// This file tests an engine that plan treats as another machine's: the
// test's sshd under a non-loopback name (ssh://root@nonstop-far:PORT,
// mapped to 127.0.0.1 by the test's ssh config). The seed's http probes
// are refused in preflight with nothing changed; with exec probes (run in
// the container through the engine) the rolling update runs under load,
// nginx's config (the bind mount's source path) edited through the
// engine, and a broken version is rolled back to the config's very bytes.
package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// execProbe replaces the seed plan's http probe of app with an exec probe
// (`/testapp -check`, the app's /healthz from inside its container).
func execProbe(app string) []string {
	return []string{`  http {
    port          = 3000
    path          = "/"
    expect_status = 200
    expect_body   = "` + app + `,${var.version}"
  }`, `  exec {
    command = ["/testapp", "-check"]
  }`}
}

func TestFarEngineThroughSSH(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	s := startSSHEngine(t)
	topo := startShellSeed(t, cli)
	far := []string{"  compose_project = var.compose_project\n", "  compose_project = var.compose_project\n  host            = \"" + s.FarHost + "\"\n"}
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	ids := func() map[string]string {
		out := map[string]string{}
		for _, a := range topo.Apps {
			c, err := cli.ContainerInspect(context.Background(), a.Container)
			if err != nil {
				t.Fatal(err)
			}
			out[a.Container] = c.ID
		}
		return out
	}
	apply := func(plan string, args ...string) (int, string, *load) {
		l := startLoad(topo.URL, 4)
		code, out := runPlanEnv(t, s.Env(), append(append(append([]string{"apply", "-auto-approve"}, seedVars(topo)...), args...), plan)...)
		l.Stop()
		t.Logf("plan apply (exit %d):\n%s", code, out)
		t.Logf("load: %d requests, %d non-2xx, %d transport errors %v", l.requests.Load(), l.non2xx.Load(), l.transport.Load(), l.samples)
		if n := l.non2xx.Load(); n != 0 {
			t.Errorf("%d non-2xx answers, want 0: %v", n, l.samples)
		}
		return code, out, l
	}

	t.Run("http probes are refused", func(t *testing.T) {
		was := ids()
		code, out, _ := apply(seedPlan(t, topo, "rolling-update.hcl", far...))
		if code != 1 {
			t.Fatalf("exit %d, want 1 (refused in preflight, nothing changed)", code)
		}
		for _, want := range []string{"Probe cannot reach the container", s.FarHost, "runs on another machine", "docker {}", "exec {", "via_nginx"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Count(out, "Probe cannot reach the container") != 2 {
			t.Errorf("want one refusal per health check (2)")
		}
		if now := ids(); now[topo.Apps[0].Container] != was[topo.Apps[0].Container] || now[topo.Apps[1].Container] != was[topo.Apps[1].Container] {
			t.Errorf("containers changed: %v -> %v", was, now)
		}
		if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
			t.Errorf("the config changed")
		}
	})

	edits := append(append(append([]string{}, far...), execProbe("app2")...), execProbe("app1")...)
	t.Run("exec probes roll through the engine", func(t *testing.T) {
		sessions := s.Sessions(t)
		code, _, l := apply(seedPlan(t, topo, "rolling-update.hcl", edits...))
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		if l.requests.Load() < 100 {
			t.Errorf("only %d requests during the apply", l.requests.Load())
		}
		if s.Sessions(t) == sessions {
			t.Errorf("no SSH session during the apply: the engine was not reached through ssh")
		}
		if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
			t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
		}
		if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
			t.Errorf("after the rolling update the config differs:\n%s", after)
		}
	})

	t.Run("a broken version rolls back", func(t *testing.T) {
		was := ids()
		broken := seedPlan(t, topo, "rolling-update.hcl", append(edits,
			`env        = { MESSAGE = "app2,${var.version}" }`, `env        = { MESSAGE = "app2,${var.version}", FAIL = "1" }`,
			`timeout           = "30s"`, `timeout           = "4s"`)...)
		code, _, _ := apply(broken, "-var", "version=v3")
		if code != 2 {
			t.Fatalf("exit %d, want 2 (failed and rolled back)", code)
		}
		if now := ids(); now[topo.Apps[1].Container] != was[topo.Apps[1].Container] {
			t.Errorf("app2 is not its v2 container again: %v -> %v", was, now)
		}
		if after, _ := os.ReadFile(topo.ConfigPath); !bytes.Equal(before, after) {
			t.Errorf("after the rollback the config is not byte-identical:\n%s", after)
		}
		if got := answers(t, topo, 8); len(got) != 2 || got["Hi there, I love ! app2,v2"] == 0 {
			t.Errorf("after the rollback, nginx answers %v; want app1,v2 and app2,v2", got)
		}
	})
}
