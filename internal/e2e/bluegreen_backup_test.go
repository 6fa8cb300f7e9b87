package e2e

// Blue/green with idle = "backup" (issue #13 item 1: the idle colour's
// lines are `down`, or `backup`, as the user chose) on the seed topology
// with two colours, green's lines marked `backup`: applied under load,
// then flipped back by `plan rollback`, against the real engine and nginx.

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// liveWorkers lists the PIDs of nginx's workers that are not shutting
// down.
func liveWorkers(t *testing.T, cli client.APIClient, container string) []string {
	t.Helper()
	top, err := cli.ContainerTop(context.Background(), container, nil)
	if err != nil {
		t.Fatalf("listing nginx's processes: %v", err)
	}
	pid, cmd := slices.Index(top.Titles, "PID"), slices.IndexFunc(top.Titles, func(s string) bool { return s == "CMD" || s == "COMMAND" })
	var out []string
	for _, p := range top.Processes {
		if line := strings.Join(p[cmd:], " "); strings.Contains(line, "worker process") && !strings.Contains(line, "shutting down") {
			out = append(out, p[pid])
		}
	}
	return out
}

// idleGreenAsBackup turns the two-colour topology's idle green from `down`
// to `backup` in nginx.conf, reloads nginx, and waits until only the new
// worker generation is live, so that a watch started after it counts only
// the reloads of what follows.
func idleGreenAsBackup(t *testing.T, cli client.APIClient, topo *seedtopo.Topology) {
	t.Helper()
	src, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(src)
	for _, a := range topo.Green() {
		line := "server " + a.Server + " down;"
		if !strings.Contains(conf, line) {
			t.Fatalf("nginx.conf has no %q:\n%s", line, conf)
		}
		conf = strings.Replace(conf, line, "server "+a.Server+" backup;", 1)
	}
	before := liveWorkers(t, cli, topo.NginxContainer)
	// In place: the container sees the bind-mounted file's inode.
	if err := os.WriteFile(topo.ConfigPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := topo.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := liveWorkers(t, cli, topo.NginxContainer)
		if len(now) > 0 && !slices.ContainsFunc(now, func(p string) bool { return slices.Contains(before, p) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not reload with green as backup: workers %v, before %v", now, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backupLines checks nginx.conf: the live apps' server lines plain, the
// idle ones marked backup.
func backupLines(t *testing.T, topo *seedtopo.Topology, live, idle []seedtopo.App) {
	t.Helper()
	b, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range live {
		if !strings.Contains(string(b), "server "+a.Server+";") {
			t.Errorf("nginx.conf lacks %q (live):\n%s", "server "+a.Server+";", b)
		}
	}
	for _, a := range idle {
		if !strings.Contains(string(b), "server "+a.Server+" backup;") {
			t.Errorf("nginx.conf lacks %q (idle):\n%s", "server "+a.Server+" backup;", b)
		}
	}
}

// plans/blue-green.hcl with idle = "backup": refused while nginx marks
// the idle colour down instead; then the dry run reads blue as
// live from the backup form; the apply deploys green and cuts over under
// load with 0 non-2xx in one reload, green serving v2 and blue's lines now
// `backup` (blue still running); `plan rollback` flips back under load in
// one reload, starting nothing, and nginx.conf is byte for byte what it
// was before the apply.
func TestBlueGreenBackupUnderLoad(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	topo := startBlueGreen(t, cli)
	blue, green := topo.Blue(), topo.Green()
	plan := bgPlan(t, topo, "bg-backup", "blue_green \"apps\" {\n  nginx = nginx.proxy\n", "blue_green \"apps\" {\n  nginx = nginx.proxy\n  idle  = \"backup\"\n")
	vars := seedVars(topo)

	// The plan says backup but nginx marks green down: preflight refuses,
	// saying what to mark, and nothing changes.
	downConf, _ := os.ReadFile(topo.ConfigPath)
	code, out := runPlan(t, append(append([]string{"apply", "-auto-approve"}, vars...), plan)...)
	if code == 0 || !strings.Contains(out, "No single live colour") || !strings.Contains(out, "all marked `backup`") {
		t.Errorf("apply with idle = \"backup\" on a down idle colour (exit %d) was not refused:\n%s", code, out)
	}
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(downConf) {
		t.Errorf("a refused apply changed nginx.conf")
	}

	idleGreenAsBackup(t, cli, topo)
	servesColour(t, topo, blue, "v1")
	initial, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	code, out = runPlan(t, append(append([]string{"apply", "-dry-run"}, vars...), plan)...)
	if code != 0 || !strings.Contains(out, "live: blue → deploying green") {
		t.Errorf("the dry run does not read blue as live from the backup form (exit %d):\n%s", code, out)
	}

	blueStarts := started(t, cli, blue)
	gens := watchGenerations(cli, topo.NginxContainer)
	code, out = underLoad(t, topo, append(append([]string{"apply", "-auto-approve", "-var", "version=v2"}, vars...), plan)...)
	if code != 0 {
		t.Fatalf("apply exit %d, want 0", code)
	}
	if n := gens.reloads(t); n != 1 {
		t.Errorf("the apply reloaded nginx %d times; a backup swap is one reload", n)
	}
	if !strings.Contains(out, "live: blue → green") || !strings.Contains(out, "blue marked backup") {
		t.Errorf("apply output does not say the swap")
	}
	servesColour(t, topo, green, "v2")
	backupLines(t, topo, green, blue)
	sameStarts(t, "blue after the cut-over to green", blueStarts, started(t, cli, blue))

	greenStarts := started(t, cli, green)
	gens = watchGenerations(cli, topo.NginxContainer)
	t0 := time.Now()
	code, out = underLoad(t, topo, "rollback", plan)
	t.Logf("plan rollback took %s", time.Since(t0).Round(time.Millisecond))
	if code != 0 || !strings.Contains(out, "Flipped back apply") || !strings.Contains(out, "green marked backup") {
		t.Fatalf("plan rollback exit %d, want 0 and the flip said", code)
	}
	if n := gens.reloads(t); n != 1 {
		t.Errorf("plan rollback reloaded nginx %d times; flipping a backup swap back is one reload", n)
	}
	servesColour(t, topo, blue, "v1")
	if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(initial) {
		t.Errorf("nginx.conf after the flip back differs from before the apply:\n%s", after)
	}
	sameStarts(t, "blue after the flip back", blueStarts, started(t, cli, blue))
	sameStarts(t, "green after the flip back", greenStarts, started(t, cli, green))
}
