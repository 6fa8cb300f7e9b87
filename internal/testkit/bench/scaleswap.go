// This file holds the scale-and-swap procedure: what docker-rollout does
// for a compose service, the baseline compose users reach for. Per app:
// `docker-compose up -d --no-deps --no-recreate --scale APP=2 APP` with the
// new version in the compose file (a second container, same service
// alias), a wait, then the old container stopped and removed. nginx is not
// touched: it resolved the service name when it loaded its config, so it
// keeps sending requests to the removed container's address.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// ScaleAndSwap is the docker-rollout baseline (an extra procedure, chosen
// with -procedures).
const ScaleAndSwap = "scale-and-swap"

// composeFile is a docker-compose (v1) file for the topology's apps at
// version, labelled so that seedtopo's Close removes what compose creates.
func composeFile(t *seedtopo.Topology, version string) string {
	var b strings.Builder
	b.WriteString("version: \"2.4\"\nservices:\n")
	for _, a := range t.Apps {
		fmt.Fprintf(&b, "  %s:\n    image: %q\n    environment:\n      MESSAGE: %q\n    labels:\n      %s: %q\n",
			a.Service, t.Images.App, a.Service+","+version, seedtopo.LabelKey, t.Project)
	}
	return b.String()
}

func (p *procRun) scaleAndSwap(ctx context.Context, res *Result) error {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		return fmt.Errorf("scale-and-swap needs docker-compose (v1): %w", err)
	}
	file := filepath.Join(p.t.Dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeFile(p.t, Version)), 0o644); err != nil {
		return err
	}
	compose := func(args ...string) error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"-p", p.t.Project, "-f", file}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	cli := p.c.Docker
	for _, a := range p.order() {
		p.load.Mark("scale " + a.Service)
		if err := compose("up", "-d", "--no-deps", "--no-recreate", "--scale", a.Service+"=2", a.Service); err != nil {
			return err
		}
		list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", "com.docker.compose.project="+p.t.Project),
			filters.Arg("label", "com.docker.compose.service="+a.Service))})
		if err != nil {
			return err
		}
		if len(list) != 2 {
			return fmt.Errorf("after scaling %s to 2, %d containers run", a.Service, len(list))
		}
		// docker-rollout waits for the new container's health check, or a
		// fixed time when it has none (the test app has none).
		if err := sleep(ctx, p.c.RunbookSleep); err != nil {
			return err
		}
		p.load.Mark("remove old " + a.Service)
		old, err := cli.ContainerInspect(ctx, a.Container)
		if err != nil {
			return err
		}
		if err := cli.ContainerStop(ctx, old.ID, container.StopOptions{}); err != nil {
			return fmt.Errorf("stop %s: %w", a.Container, err)
		}
		if err := cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{}); err != nil {
			return fmt.Errorf("rm %s: %w", a.Container, err)
		}
		if err := sleep(ctx, p.c.RunbookSleep); err != nil {
			return err
		}
	}
	// What nginx serves now: it still holds the addresses it resolved at
	// start, which are the removed containers' (or whatever container the
	// engine gave such an address since).
	seen := map[string]int{}
	for range 20 {
		body, err := p.t.Get(ctx)
		if err != nil {
			body, _, _ = strings.Cut(err.Error(), ":") // "GET URL: status 502: <html>..."
			if i := strings.Index(err.Error(), "status "); i >= 0 {
				body = err.Error()[i : i+min(len(err.Error())-i, 10)]
			}
		}
		seen[strings.TrimSpace(body)]++
	}
	p.logf("after scale-and-swap, 20 GETs through nginx: %v", seen)
	return nil
}
