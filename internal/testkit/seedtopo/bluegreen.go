// This file starts the seed topology with two colours for blue/green:
// apps app1..appN are blue and serve, appN+1..app2N are green and idle,
// their server lines marked `down` in nginx.conf.
package seedtopo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"
)

// StartBlueGreen starts the seed topology with 2*perColour apps (o.Replicas
// is ignored), then marks the second half (green) down in nginx.conf and
// reloads nginx, and waits until only blue answers through it. Blue and
// Green split Apps.
func StartBlueGreen(ctx context.Context, cli client.APIClient, perColour int, o Options) (*Topology, error) {
	if perColour < 1 {
		return nil, fmt.Errorf("seedtopo: %d apps per colour", perColour)
	}
	o.Replicas = 2 * perColour
	t, err := Start(ctx, cli, o)
	if err != nil {
		return nil, err
	}
	if err := t.IdleGreen(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = t.Close(cctx)
		return nil, err
	}
	return t, nil
}

// Blue is the first half of Apps: the colour that serves after StartBlueGreen.
func (t *Topology) Blue() []App { return t.Apps[:len(t.Apps)/2] }

// Green is the second half of Apps: idle after StartBlueGreen.
func (t *Topology) Green() []App { return t.Apps[len(t.Apps)/2:] }

// IdleGreen marks Green's server lines down in nginx.conf, reloads nginx
// and waits until only Blue answers: the two-colour state on a topology
// started with an even number of apps.
func (t *Topology) IdleGreen(ctx context.Context) error {
	src, err := os.ReadFile(t.ConfigPath)
	if err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	conf := string(src)
	for _, a := range t.Green() {
		line := "server " + a.Server + ";"
		if !strings.Contains(conf, line) {
			return fmt.Errorf("seedtopo: nginx.conf has no %q", line)
		}
		conf = strings.Replace(conf, line, "server "+a.Server+" down;", 1)
	}
	// In place: the container sees the bind-mounted file's inode.
	if err := os.WriteFile(t.ConfigPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	if err := t.Reload(ctx); err != nil {
		return err
	}
	blue := map[string]bool{}
	for _, a := range t.Blue() {
		blue[a.Message] = true
	}
	// Old workers may answer a few more requests from green: wait until
	// enough answers in a row come from blue only.
	deadline := time.Now().Add(30 * time.Second)
	inRow := 0
	for inRow < 8*len(blue) {
		if time.Now().After(deadline) {
			return fmt.Errorf("seedtopo: green still answers through nginx 30s after the reload")
		}
		body, err := t.Get(ctx)
		if err != nil {
			return err
		}
		ok := false
		for m := range blue {
			ok = ok || strings.HasSuffix(strings.TrimSpace(body), m)
		}
		if ok {
			inRow++
		} else {
			inRow = 0
		}
	}
	t.logf("green (%d apps) marked down in nginx; blue serves", len(t.Green()))
	return nil
}

// Reload makes nginx read its config again (SIGHUP to its master).
func (t *Topology) Reload(ctx context.Context) error {
	if t.NginxContainer != "" {
		if err := t.cli.ContainerKill(ctx, t.NginxContainer, "HUP"); err != nil {
			return fmt.Errorf("seedtopo: reloading nginx: %w", err)
		}
		return nil
	}
	b, err := os.ReadFile(t.NginxPIDFile)
	if err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("seedtopo: nginx pid file: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("seedtopo: reloading nginx: %w", err)
	}
	return nil
}
