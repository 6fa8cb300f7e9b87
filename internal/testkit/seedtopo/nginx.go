// This file starts the topology's nginx: in a container from the offline
// image, or on the host from Debian's binary.
package seedtopo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

func (t *Topology) startNginxContainer(ctx context.Context, o Options) error {
	if err := os.WriteFile(t.ConfigPath, []byte(containerConf(t.services())), 0o644); err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	t.NginxContainer = t.Project + "-nginx"
	port := nat.Port("80/tcp")
	cfg := &container.Config{Image: t.Images.Nginx, ExposedPorts: nat.PortSet{port: {}}}
	cfg.Labels = t.composeLabels("nginx", cfg)
	hc := &container.HostConfig{
		NetworkMode:  container.NetworkMode(t.Network),
		Binds:        []string{t.ConfigPath + ":/etc/nginx/nginx.conf:rw"},
		PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}},
		Sysctls:      o.NginxSysctls,
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		t.Network: {Aliases: []string{"nginx"}},
	}}
	c, err := t.cli.ContainerCreate(ctx, cfg, hc, nc, nil, t.NginxContainer)
	if err != nil {
		return fmt.Errorf("seedtopo: create %s: %w", t.NginxContainer, err)
	}
	if err := t.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("seedtopo: start %s: %w", t.NginxContainer, err)
	}
	ins, err := t.cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("seedtopo: inspect %s: %w", t.NginxContainer, err)
	}
	b := ins.NetworkSettings.Ports[port]
	if len(b) == 0 || b[0].HostPort == "" {
		// nginx exits at once when an upstream host does not resolve, e.g. an
		// app container that already exited.
		var apps strings.Builder
		for _, a := range t.Apps {
			fmt.Fprintf(&apps, "\n--- %s (%s): %s", a.Service, a.Container, t.describe(ctx, a.ID))
		}
		return fmt.Errorf("seedtopo: nginx (%s) did not come up: %s%s",
			t.NginxContainer, t.describe(ctx, c.ID), apps.String())
	}
	t.URL = "http://127.0.0.1:" + b[0].HostPort + "/"
	return nil
}

// hostNginx finds the host's nginx: $NONSTOP_NGINX, /usr/sbin/nginx, PATH.
func hostNginx() (string, error) {
	for _, p := range []string{os.Getenv("NONSTOP_NGINX"), testimage.NginxPath} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", errors.New("seedtopo: nginx is not installed on the host (apt-get install -y nginx-light)")
}

func (t *Topology) startHostNginx(ctx context.Context) error {
	servers := make([]string, len(t.Apps))
	for i, a := range t.Apps {
		servers[i] = a.Server
	}
	t.NginxPIDFile = filepath.Join(t.Dir, "nginx.pid")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("seedtopo: %w", err)
		}
		listen := "127.0.0.1:" + strconv.Itoa(port)
		if err := os.WriteFile(t.ConfigPath, []byte(hostConf(t.Dir, listen, servers)), 0o644); err != nil {
			return fmt.Errorf("seedtopo: %w", err)
		}
		// nginx daemonizes: the command returns once the master runs (or failed
		// to start). Its stderr goes to a file, not a pipe, so Wait does not wait
		// for the daemon that inherits it.
		errFile, err := os.CreateTemp(filepath.Join(t.Dir, "logs"), "start-*.stderr")
		if err != nil {
			return fmt.Errorf("seedtopo: %w", err)
		}
		cmd := exec.CommandContext(ctx, t.NginxBinary, "-p", t.Dir, "-c", t.ConfigPath)
		cmd.Stdout, cmd.Stderr = errFile, errFile
		err = cmd.Run()
		_ = errFile.Close()
		if err == nil {
			t.URL = "http://" + listen + "/"
			return nil
		}
		out, _ := os.ReadFile(errFile.Name())
		lastErr = fmt.Errorf("seedtopo: %s -p %s -c %s: %w\n%s%s", t.NginxBinary, t.Dir, t.ConfigPath, err, out,
			tailFile(filepath.Join(t.Dir, "logs", "error.log"), 2000))
		if !strings.Contains(string(out)+tailFile(filepath.Join(t.Dir, "logs", "error.log"), 2000), "Address already in use") {
			break
		}
	}
	return lastErr
}
