// This file holds the procedures the benchmark compares (plan-apply,
// seed-runbook, naive-recreate, reload-control) and the breakdown of an
// apply's time.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Version is what every procedure rolls the apps to.
const Version = "v2"

type procRun struct {
	c     Config
	t     *seedtopo.Topology
	load  *load.Run
	logf  func(string, ...any)
	batch int // the rollout's batch_size (batches.go)
}

// order is the seed's: the last app first (app2, then app1).
func (p *procRun) order() []seedtopo.App {
	apps := make([]seedtopo.App, 0, len(p.t.Apps))
	for i := len(p.t.Apps) - 1; i >= 0; i-- {
		apps = append(apps, p.t.Apps[i])
	}
	return apps
}

// BuildPlan builds ./cmd/plan into dir and returns the binary's path.
func BuildPlan(ctx context.Context, repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "plan")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/plan")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building plan: %v\n%s", err, out)
	}
	return bin, nil
}

// PlanSource is the plan plan-apply runs: the repository's
// plans/rolling-update.hcl for the seed's two apps, or
// plans/rolling-update-rollout.hcl with targets appN..app1.
func PlanSource(repoRoot string, replicas int) (string, error) {
	if replicas == 2 {
		b, err := os.ReadFile(filepath.Join(repoRoot, "plans", "rolling-update.hcl"))
		return string(b), err
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "plans", "rolling-update-rollout.hcl"))
	if err != nil {
		return "", err
	}
	var targets []string
	for i := replicas; i >= 1; i-- {
		targets = append(targets, strconv.Quote("app"+strconv.Itoa(i)))
	}
	const old = `apps = ["app2", "app1"]`
	if !bytes.Contains(b, []byte(old)) {
		return "", fmt.Errorf("plans/rolling-update-rollout.hcl has no %s to generate a %d-app plan from", old, replicas)
	}
	return strings.Replace(string(b), old, "apps = ["+strings.Join(targets, ", ")+"]", 1), nil
}

func (p *procRun) planApply(ctx context.Context, res *Result) error {
	src, err := PlanSource(p.c.RepoRoot, len(p.t.Apps))
	if err == nil {
		src, err = withBatchSize(src, p.batch)
	}
	if err != nil {
		return err
	}
	return p.applyPlan(ctx, res, "rolling-update.hcl", src)
}

// applyPlan writes src as t.Dir/name and runs plan apply on it.
func (p *procRun) applyPlan(ctx context.Context, res *Result, name, src string) error {
	plan := filepath.Join(p.t.Dir, name)
	if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(actx, p.c.PlanBin, "apply", "-auto-approve", "-json", "-log-level", "debug",
		"-var", "compose_project="+p.t.Project, "-var", "nginx_container="+p.t.NginxContainer,
		"-var", "image="+p.t.Images.App, "-var", "version="+Version, plan)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	var events []event
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		e, ok := parseEvent(sc.Bytes())
		if !ok {
			continue
		}
		events = append(events, e)
		if e.Type == "step" {
			switch e.Status {
			case "running":
				p.load.MarkAt(shortStep(e.Step)+" start", e.Time)
			default:
				p.load.MarkAt(shortStep(e.Step)+" "+e.Status, e.Time)
			}
		}
	}
	err = cmd.Wait()
	ended := time.Now()
	b := analyze(events, began, ended, stderr.String())
	if cmd.ProcessState != nil {
		b.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	res.Apply = &b
	res.Reloads = strings.Count(stderr.String(), "nginx: reloaded, new workers live")
	if err != nil || p.c.KeepOutput {
		res.Output = out.String() + stderr.String()
	}
	if err != nil {
		return fmt.Errorf("plan apply: %w", err)
	}
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	p.logf("plan apply: wall %s, waiting %s (drain %s, deploy %s, health %s), nginx %s (nginx -t %s, reloads %s), own %s (startup %s, finish %s; CPU %s)",
		ms(b.Wall), ms(b.Waiting), ms(b.DrainWait), ms(b.Deploy), ms(b.Health), ms(b.Nginx), ms(b.NginxTest),
		ms(b.NginxReload), ms(b.Own), ms(b.Startup), ms(b.Finish), ms(b.CPU))
	return nil
}

// reload is the seed's `docker-compose exec nginx service nginx reload`:
// `nginx -s reload` inside the nginx container.
func (p *procRun) reload(ctx context.Context) error {
	code, out, err := dockerx.Exec(ctx, p.c.Docker, p.t.NginxContainer, []string{"nginx", "-s", "reload"})
	if err != nil {
		return fmt.Errorf("nginx -s reload: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("nginx -s reload exited %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}

// setDown edits nginx.conf as the seed does by hand: `server X down;` or
// back. The file is bind-mounted, so it is rewritten in place.
func (p *procRun) setDown(server string, down bool) error {
	src, err := os.ReadFile(p.t.ConfigPath)
	if err != nil {
		return err
	}
	out, err := nginx.SetDown(src, "apps", server, down)
	if err != nil {
		return err
	}
	return os.WriteFile(p.t.ConfigPath, out, 0o644)
}

// recreate is `docker rm -f` then `docker-compose up -d` with the new
// MESSAGE: the same container name, config, network and service alias.
func (p *procRun) recreate(ctx context.Context, a seedtopo.App, version string) error {
	cli := p.c.Docker
	ins, err := cli.ContainerInspect(ctx, a.Container)
	if err != nil {
		return err
	}
	cfg := *ins.Config
	cfg.Hostname = ""
	cfg.Env = nil
	for _, e := range ins.Config.Env {
		if !strings.HasPrefix(e, "MESSAGE=") {
			cfg.Env = append(cfg.Env, e)
		}
	}
	cfg.Env = append(cfg.Env, "MESSAGE="+a.Service+","+version)
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		p.t.Network: {Aliases: []string{a.Service}},
	}}
	if err := cli.ContainerRemove(ctx, ins.ID, container.RemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("rm -f %s: %w", a.Container, err)
	}
	c, err := cli.ContainerCreate(ctx, &cfg, ins.HostConfig, nc, nil, a.Container)
	if err != nil {
		return fmt.Errorf("create %s: %w", a.Container, err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", a.Container, err)
	}
	return nil
}

func (p *procRun) seedRunbook(ctx context.Context, res *Result) error {
	s := p.c.RunbookSleep
	for _, a := range p.order() {
		p.load.Mark("down " + a.Service)
		if err := p.setDown(a.Server, true); err != nil {
			return err
		}
		if err := p.reload(ctx); err != nil {
			return err
		}
		res.Reloads++
		if err := sleep(ctx, s); err != nil {
			return err
		}
		p.load.Mark("recreate " + a.Service)
		if err := p.recreate(ctx, a, Version); err != nil {
			return err
		}
		if err := sleep(ctx, s); err != nil {
			return err
		}
		p.load.Mark("restore " + a.Service)
		if err := p.setDown(a.Server, false); err != nil {
			return err
		}
		if err := p.reload(ctx); err != nil {
			return err
		}
		res.Reloads++
		if err := sleep(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (p *procRun) naiveRecreate(ctx context.Context, res *Result) error {
	for _, a := range p.order() {
		p.load.Mark("recreate " + a.Service)
		if err := p.recreate(ctx, a, Version); err != nil {
			return err
		}
		if err := sleep(ctx, p.c.RunbookSleep); err != nil {
			return err
		}
	}
	return nil
}

func (p *procRun) reloadControl(ctx context.Context, res *Result) error {
	// plan-apply: one reload per drain, each restore handed off with the
	// next drain in the same reload, the last restore on its own.
	n := len(p.t.Apps) + 1
	for i := 1; i <= n; i++ {
		p.load.Mark("reload " + strconv.Itoa(i))
		if err := p.reload(ctx); err != nil {
			return err
		}
		res.Reloads++
		if err := sleep(ctx, p.c.ReloadGap); err != nil {
			return err
		}
	}
	return nil
}

// balancerControl makes plan-apply's reloads through the product's own
// nginx.Balancer (mark down + wait drained, restore: each an edit, `nginx -t`,
// SIGHUP and confirmation by polling the processes) without any deploy: it
// tells reload-mechanics effects from deploy effects. Not part of the default
// set (-procedures balancer-control).
func (p *procRun) balancerControl(ctx context.Context, res *Result, fromProc bool) error {
	rt := nginx.ContainerRuntime(p.c.Docker, p.t.NginxContainer, "")
	if fromProc {
		ins, err := p.c.Docker.ContainerInspect(ctx, p.t.NginxContainer)
		if err != nil {
			return err
		}
		rt = procRuntime{Runtime: rt, master: ins.State.Pid}
	}
	b := nginx.New(nginx.Options{ConfigPath: p.t.ConfigPath, Upstream: "apps", Runtime: rt, WriteInPlace: true})
	for _, a := range p.order() {
		p.load.Mark("mark down " + a.Service)
		ch, err := b.MarkDown(ctx, a.Server)
		if err != nil {
			return err
		}
		if _, err := b.WaitDrained(ctx, ch, 30*time.Second); err != nil {
			return err
		}
		res.Reloads++
		if err := sleep(ctx, p.c.ReloadGap); err != nil {
			return err
		}
		p.load.Mark("restore " + a.Service)
		if _, err := b.Restore(ctx, a.Server); err != nil {
			return err
		}
		res.Reloads++
		if err := sleep(ctx, p.c.ReloadGap); err != nil {
			return err
		}
	}
	return nil
}

// procRuntime is the container runtime with the process listing read from
// the host's /proc (the master's host PID from the engine, its children from
// /proc/PID/task/PID/children) instead of `docker top`: what
// balancer-control-proc measures, a candidate fix for the reload
// confirmation's cost.
type procRuntime struct {
	nginx.Runtime
	master int
}

// Processes implements nginx.Runtime from /proc, for the primitives table.
func (r procRuntime) Processes(ctx context.Context) ([]nginx.Process, error) {
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", r.master, r.master))
	if err != nil {
		return nil, err
	}
	procs := []nginx.Process{{PID: r.master, PPID: -1, Cmd: "nginx: master process"}}
	for _, f := range strings.Fields(string(kids)) {
		pid, _ := strconv.Atoi(f)
		cmd, err := os.ReadFile("/proc/" + f + "/cmdline")
		if err != nil {
			continue // exited meanwhile
		}
		procs = append(procs, nginx.Process{PID: pid, PPID: r.master, Cmd: strings.TrimRight(strings.ReplaceAll(string(cmd), "\x00", " "), " ")})
	}
	return procs, nil
}
