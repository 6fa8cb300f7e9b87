// This file measures nginx's and the engine's fixed costs (nginx -t, reload,
// container create/start) that every procedure pays.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Primitive is the cost of one operation plan apply is made of.
type Primitive struct {
	Name   string        `json:"name"`
	Load   string        `json:"load"`
	N      int           `json:"n"`
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
	Min    time.Duration `json:"min_ns"`
}

// Primitives times the operations plan apply is made of on a fresh seed
// topology, idle and then under the closed-loop POST keep-alive load: the
// evidence for where its overhead comes from.
func Primitives(ctx context.Context, c Config, n int) ([]Primitive, error) {
	c.defaults()
	t, err := seedtopo.Start(ctx, c.Docker, seedtopo.Options{Log: prefixed{c.Log, "  "}, NginxSysctls: BenchSysctls})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		_ = t.Close(cctx)
	}()
	src, err := PlanSource(c.RepoRoot, 2)
	if err != nil {
		return nil, err
	}
	plan := filepath.Join(t.Dir, "rolling-update.hcl")
	if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
		return nil, err
	}
	vars := []string{"-var", "compose_project=" + t.Project, "-var", "nginx_container=" + t.NginxContainer, "-var", "image=" + t.Images.App}
	rt := nginx.ContainerRuntime(c.Docker, t.NginxContainer, "")
	bal := nginx.New(nginx.Options{ConfigPath: t.ConfigPath, Upstream: "apps", Runtime: rt, WriteInPlace: true})
	ins, err := c.Docker.ContainerInspect(ctx, t.NginxContainer)
	if err != nil {
		return nil, err
	}
	masterPID := ins.State.Pid

	type op struct {
		name string
		n    int
		f    func() error
	}
	ops := []op{
		{"`plan validate` (process start, decode)", n, func() error {
			return exec.CommandContext(ctx, c.PlanBin, append(append([]string{"validate"}, vars...), plan)...).Run()
		}},
		{"`plan apply -dry-run` (+ lock, preflight)", n, func() error {
			out, err := exec.CommandContext(ctx, c.PlanBin, append(append([]string{"apply", "-dry-run"}, vars...), plan)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}},
		{"`nginx -t` (docker exec)", n, func() error { return rt.Test(ctx) }},
		{"nginx processes (docker top)", n, func() error { _, err := rt.Processes(ctx); return err }},
		{"nginx processes (/proc of the host)", n, func() error { _, err := procChildren(masterPID); return err }},
		{"container inspect", n, func() error { _, err := c.Docker.ContainerInspect(ctx, t.Apps[0].Container); return err }},
		{"mark down: edit, `nginx -t`, reload, confirm new workers", n, nil},
		{"restore: resolve check, edit, `nginx -t`, reload, confirm", n, nil},
		{"deploy: dockerx.Replace (rename, create, stop, start)", max(n/3, 2), nil},
	}
	var out []Primitive
	for _, loadName := range []string{"idle", "post-keepalive"} {
		var run *load.Run
		if loadName != "idle" {
			lo := load.NewOptions(t.URL)
			lo.Method, lo.Body, lo.Workers, lo.MaxDuration = "POST", []byte("ping"), c.Workers, 5*time.Minute
			if run, err = load.Start(ctx, lo); err != nil {
				return nil, err
			}
			_ = sleep(ctx, 2*time.Second)
		}
		for _, o := range ops {
			var ds []time.Duration
			for i := 0; i < o.n; i++ {
				var d time.Duration
				var err error
				switch {
				case strings.HasPrefix(o.name, "mark down"):
					began := time.Now()
					var ch nginx.Change
					ch, err = bal.MarkDown(ctx, t.Apps[0].Server)
					d = time.Since(began)
					if err == nil {
						_, err = bal.WaitDrained(ctx, ch, 30*time.Second)
					}
					if err == nil {
						_, err = bal.Restore(ctx, t.Apps[0].Server)
					}
				case strings.HasPrefix(o.name, "restore"):
					if _, err = bal.MarkDown(ctx, t.Apps[0].Server); err == nil {
						began := time.Now()
						_, err = bal.Restore(ctx, t.Apps[0].Server)
						d = time.Since(began)
					}
				case strings.HasPrefix(o.name, "deploy"):
					a := t.Apps[0]
					var old = a.Container
					oldIns, ierr := c.Docker.ContainerInspect(ctx, old)
					if ierr != nil {
						return nil, ierr
					}
					began := time.Now()
					var r dockerx.Replacement
					r, err = dockerx.Replace(ctx, c.Docker, oldIns, dockerx.Spec{Env: map[string]string{"MESSAGE": a.Service + ",p" + strconv.Itoa(i)}})
					d = time.Since(began)
					if err == nil {
						err = dockerx.Finalize(ctx, c.Docker, r)
					}
				default:
					began := time.Now()
					err = o.f()
					d = time.Since(began)
				}
				if err != nil {
					if run != nil {
						run.Stop()
					}
					return nil, fmt.Errorf("%s: %w", o.name, err)
				}
				ds = append(ds, d)
			}
			slices.Sort(ds)
			out = append(out, Primitive{Name: o.name, Load: loadName, N: len(ds), Median: ds[len(ds)/2],
				P90: ds[min(len(ds)-1, len(ds)*9/10)], Min: ds[0]})
			fmt.Fprintf(c.Log, "  primitive %-60s %-15s median %s\n", o.name, loadName, msString(ds[len(ds)/2]))
		}
		if run != nil {
			run.Stop()
		}
	}
	return out, nil
}

// procChildren lists the children of pid and their titles from /proc: what
// a same-host runtime could do instead of `docker top`.
func procChildren(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range strings.Fields(string(b)) {
		cmd, err := os.ReadFile("/proc/" + f + "/cmdline")
		if err != nil {
			continue
		}
		out = append(out, strings.TrimRight(strings.ReplaceAll(string(cmd), "\x00", " "), " "))
	}
	return out, nil
}
