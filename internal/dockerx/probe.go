// This file holds the probes a health check uses: a container's address, its
// HEALTHCHECK status, and a command run in it with bounded output.
package dockerx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// MaxExecOutput bounds what Exec keeps of a command's output: enough to show
// why a check failed, not enough for a chatty command to fill memory or the
// journal.
const MaxExecOutput = 16 << 10

// ContainerIP returns the container's IPv4 address on network (its name), for
// probes that talk to the container directly. network "" means the only
// network, or with several the one the container was created on. The error
// lists the container's networks, since a wrong network name is the usual
// mistake.
func ContainerIP(ctx context.Context, cli client.APIClient, id, network string) (string, error) {
	c, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("container IP of %s: %w", id, err)
	}
	name := strings.TrimPrefix(c.Name, "/")
	if c.State != nil && !c.State.Running {
		return "", fmt.Errorf("container %s has no IP: it is %s", name, stateText(c.State))
	}
	nets := map[string]string{} // network name -> IPv4 address
	if c.NetworkSettings != nil {
		for n, ep := range c.NetworkSettings.Networks {
			if ep != nil {
				nets[n] = ep.IPAddress
			}
		}
	}
	names := slices.Sorted(maps.Keys(nets))
	if network == "" {
		switch {
		case len(names) == 1:
			network = names[0]
		case c.HostConfig != nil && has(nets, string(c.HostConfig.NetworkMode)):
			network = string(c.HostConfig.NetworkMode)
		case c.HostConfig != nil && c.HostConfig.NetworkMode.IsDefault() && has(nets, "bridge"):
			network = "bridge"
		case len(names) == 0:
			return "", fmt.Errorf("container %s is attached to no network", name)
		default:
			network = names[0]
		}
	}
	ip, ok := nets[network]
	if !ok {
		return "", fmt.Errorf("container %s is not attached to network %q; its networks: %s", name, network, listOrNone(names))
	}
	if ip == "" {
		return "", fmt.Errorf("container %s has no IPv4 address on network %q (host or none network?); its networks: %s", name, network, listOrNone(names))
	}
	return ip, nil
}

func has[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// HealthStatus returns the container's own HEALTHCHECK status as the engine
// reports it: "starting", "healthy" or "unhealthy", or "none" when the
// container has no health check (so a `docker` health check on such a
// container can say why it can never pass).
func HealthStatus(ctx context.Context, cli client.APIClient, id string) (string, error) {
	c, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("health status of %s: %w", id, err)
	}
	if c.State == nil || c.State.Health == nil || c.State.Health.Status == "" {
		return container.NoHealthcheck, nil
	}
	return string(c.State.Health.Status), nil
}

// Exec runs argv in the container (directly, never through a shell: the
// image may have none, and no quoting can go wrong) and returns its exit code
// and combined stdout and stderr, cut to MaxExecOutput. err is about running
// the command at all (no such container, not running, ctx done); a command
// that ran and failed is a non-zero exitCode with err nil.
func Exec(ctx context.Context, cli client.APIClient, id string, argv []string) (exitCode int, output string, err error) {
	if len(argv) == 0 {
		return -1, "", fmt.Errorf("exec in %s: empty command", id)
	}
	created, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd:          argv,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: %w", argv, id, err)
	}
	att, err := cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: attach: %w", argv, id, err)
	}
	defer att.Close()
	// The hijacked connection does not watch ctx: close it when ctx ends so
	// the copy below returns.
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	out := &capped{max: MaxExecOutput}
	_, copyErr := stdcopy.StdCopy(out, out, att.Reader)
	if ctx.Err() != nil {
		return -1, out.String(), fmt.Errorf("exec %q in %s: %w", argv, id, ctx.Err())
	}
	if copyErr != nil && copyErr != io.EOF {
		return -1, out.String(), fmt.Errorf("exec %q in %s: reading output: %w", argv, id, copyErr)
	}
	// The stream ends when the process closes its output, which can be a
	// moment before the engine records the exit code.
	for {
		ins, err := cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return -1, out.String(), fmt.Errorf("exec %q in %s: %w", argv, id, err)
		}
		if !ins.Running {
			return ins.ExitCode, out.String(), nil
		}
		select {
		case <-ctx.Done():
			return -1, out.String(), fmt.Errorf("exec %q in %s: %w", argv, id, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// capped is a writer that keeps the first max bytes and counts the rest.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

// Write implements io.Writer, keeping at most the cap and counting the rest.
func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += len(p) - max(room, 0)
	return len(p), nil
}

// String is what was kept, marked as cut when output was dropped.
func (c *capped) String() string {
	if c.dropped == 0 {
		return c.buf.String()
	}
	return fmt.Sprintf("%s\n[... %d more bytes cut]", c.buf.String(), c.dropped)
}

// Running reports whether the container is up (running, not paused, not
// between restarts) and a short text of its state for messages, such as
// "running", "exited (1)", "restarting", "paused", "created".
func Running(ctx context.Context, cli client.APIClient, id string) (bool, string, error) {
	c, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return false, "", fmt.Errorf("state of %s: %w", id, err)
	}
	if c.State == nil {
		return false, "unknown", nil
	}
	st := c.State
	return st.Running && !st.Paused && !st.Restarting, stateText(st), nil
}

// stateText renders a container state the way a person reads `docker ps`.
func stateText(st *container.State) string {
	switch {
	case st.Restarting:
		return fmt.Sprintf("restarting (last exit %d)", st.ExitCode)
	case st.Paused:
		return "paused"
	case st.Running:
		if st.Health != nil && st.Health.Status != "" {
			return fmt.Sprintf("running (%s)", st.Health.Status)
		}
		return "running"
	case st.Status == container.StateExited || st.Status == "":
		s := fmt.Sprintf("exited (%d)", st.ExitCode)
		if st.OOMKilled {
			s += ", OOM-killed"
		}
		if st.Error != "" {
			s += ": " + st.Error
		}
		return s
	default:
		s := string(st.Status)
		if st.Error != "" {
			s += ": " + st.Error
		}
		return s
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
