// This file holds the plan-apply-dynamic procedure: plan apply with the
// reload-free backend (nginx block mode = "dynamic") on the seed's
// topology whose nginx is replaced by one from the Lua image running
// plans/proxy-dynamic/nginx.conf (keep-alive to the apps), and that
// replacement (DynamicNginx), which the end-to-end tests use too.
package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// PlanApplyDynamic is plan-apply with mode = "dynamic" (an extra
// procedure, chosen with -procedures).
const PlanApplyDynamic = "plan-apply-dynamic"

// DynamicNginx replaces t's nginx container by one of the same name and
// labels from testimage.NginxLua running the repository's
// plans/proxy-dynamic/nginx.conf (one server line per app), written to
// t.Dir/proxy-dynamic/nginx.conf (now t.ConfigPath), with the state folder
// t.Dir/proxy-dynamic/nonstop (returned; nonstop.lua installed, writable
// by nginx's workers) bind-mounted at /etc/nginx/nonstop. t.URL is nginx's
// new address, answering when DynamicNginx returns.
func DynamicNginx(ctx context.Context, cli client.APIClient, t *seedtopo.Topology, repoRoot string, sysctls map[string]string) (string, error) {
	ref, err := testimage.NginxLua(ctx, cli)
	if err != nil {
		return "", err
	}
	conf, err := os.ReadFile(filepath.Join(repoRoot, "plans", "proxy-dynamic", "nginx.conf"))
	if err != nil {
		return "", err
	}
	const servers = "        server app1:3000;\n        server app2:3000;\n"
	if !strings.Contains(string(conf), servers) {
		return "", fmt.Errorf("plans/proxy-dynamic/nginx.conf has no server lines for app1 and app2 to generate %d from", len(t.Apps))
	}
	var lines strings.Builder
	for _, a := range t.Apps {
		fmt.Fprintf(&lines, "        server %s:3000;\n", a.Service)
	}
	dir := filepath.Join(t.Dir, "proxy-dynamic")
	state := filepath.Join(dir, "nonstop")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(state, 0o777); err != nil { // nginx's workers write the ack
		return "", err
	}
	if err := os.WriteFile(filepath.Join(state, "nonstop.lua"), nginx.LuaModule, 0o644); err != nil {
		return "", err
	}
	t.ConfigPath = filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(t.ConfigPath, []byte(strings.Replace(string(conf), servers, lines.String(), 1)), 0o644); err != nil {
		return "", err
	}
	old, err := cli.ContainerInspect(ctx, t.NginxContainer)
	if err != nil {
		return "", err
	}
	if err := cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true}); err != nil {
		return "", err
	}
	port := nat.Port("80/tcp")
	cfg := &container.Config{Image: ref, ExposedPorts: nat.PortSet{port: {}}, Labels: old.Config.Labels}
	hc := &container.HostConfig{
		NetworkMode:  container.NetworkMode(t.Network),
		Binds:        []string{t.ConfigPath + ":/etc/nginx/nginx.conf:rw", state + ":/etc/nginx/nonstop:rw"},
		PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1"}}},
		Sysctls:      sysctls,
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{t.Network: {Aliases: []string{"nginx"}}}}
	c, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, t.NginxContainer)
	if err != nil {
		return "", err
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return "", err
	}
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return "", err
	}
	b := ins.NetworkSettings.Ports[port]
	if len(b) == 0 || b[0].HostPort == "" {
		return "", fmt.Errorf("nginx with Lua (%s) did not come up: %+v", t.NginxContainer, ins.State)
	}
	t.URL = "http://127.0.0.1:" + b[0].HostPort + "/"
	for {
		if _, err := t.Get(ctx); err == nil {
			return state, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("nginx with Lua (%s) does not answer at %s: %w", t.NginxContainer, t.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DynamicPlanSource is plans/rolling-update-dynamic.hcl for replicas apps
// (the targets last app first, as PlanSource).
func DynamicPlanSource(repoRoot string, replicas int) (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "plans", "rolling-update-dynamic.hcl"))
	if err != nil {
		return "", err
	}
	var targets []string
	for i := replicas; i >= 1; i-- {
		targets = append(targets, strconv.Quote("app"+strconv.Itoa(i)))
	}
	const old = `apps = ["app2", "app1"]`
	if !strings.Contains(string(b), old) {
		return "", fmt.Errorf("plans/rolling-update-dynamic.hcl has no %s to generate a %d-app plan from", old, replicas)
	}
	return strings.Replace(string(b), old, "apps = ["+strings.Join(targets, ", ")+"]", 1), nil
}

// planApplyDynamic runs plan apply of DynamicPlanSource (nginx replaced
// by DynamicNginx before the load started), with the topology's
// batch_size when it sets one.
func (p *procRun) planApplyDynamic(ctx context.Context, res *Result) error {
	src, err := DynamicPlanSource(p.c.RepoRoot, len(p.t.Apps))
	if err == nil {
		src, err = withBatchSize(src, p.batch) // the batch topologies, as plan-apply
	}
	if err != nil {
		return err
	}
	return p.applyPlan(ctx, res, "rolling-update-dynamic.hcl", src)
}
