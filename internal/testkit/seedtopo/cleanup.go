// This file removes what a topology started, and sweeps what killed test
// processes left behind (by label, and host nginx by its pid file).
package seedtopo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Close removes everything the topology made: every container labelled
// nonstop.test=<project> or com.docker.compose.project=<project> (so also
// the ones a deploy renamed or recreated), the network, the host nginx and
// Dir. It is safe to call more than once; later calls return the first
// call's result.
func (t *Topology) Close(ctx context.Context) error {
	t.closeOnce.Do(func() { t.closeErr = t.close(ctx) })
	return t.closeErr
}

func (t *Topology) close(ctx context.Context) error {
	var errs []error
	if t.NginxPIDFile != "" {
		if err := stopHostNginx(t.NginxPIDFile, t.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	ids := map[string]string{}
	for _, f := range []string{LabelKey + "=" + t.Project, "com.docker.compose.project=" + t.Project} {
		cs, err := t.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", f))})
		if err != nil {
			errs = append(errs, fmt.Errorf("seedtopo: list containers: %w", err))
			continue
		}
		for _, c := range cs {
			ids[c.ID] = strings.Join(c.Names, ",")
		}
	}
	for id, name := range ids {
		if err := removeContainer(ctx, t.cli, id); err != nil {
			errs = append(errs, fmt.Errorf("seedtopo: remove container %s: %w", name, err))
		}
	}
	nets, err := t.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelKey+"="+t.Project))})
	if err != nil {
		errs = append(errs, fmt.Errorf("seedtopo: list networks: %w", err))
	}
	netIDs := map[string]string{}
	for _, n := range nets {
		netIDs[n.ID] = n.Name
	}
	if len(netIDs) == 0 && t.Network != "" && err == nil {
		netIDs[t.Network] = t.Network // created without labels? try by name
	}
	for id, name := range netIDs {
		if err := removeNetwork(ctx, t.cli, id); err != nil {
			errs = append(errs, fmt.Errorf("seedtopo: remove network %s: %w", name, err))
		}
	}
	if t.Dir != "" {
		if err := os.RemoveAll(t.Dir); err != nil {
			errs = append(errs, fmt.Errorf("seedtopo: %w", err))
		}
	}
	if tr, ok := t.http.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	if len(errs) == 0 {
		t.logf("topology %s removed", t.Project)
	}
	return errors.Join(errs...)
}

func removeContainer(ctx context.Context, cli client.APIClient, id string) error {
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	// "removal already in progress" when two cleanups race: fine if it goes.
	if strings.Contains(err.Error(), "already in progress") {
		return nil
	}
	return err
}

// removeNetwork removes a network; if containers without our labels are
// still attached, it disconnects them first.
func removeNetwork(ctx context.Context, cli client.APIClient, id string) error {
	err := cli.NetworkRemove(ctx, id)
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	n, ierr := cli.NetworkInspect(ctx, id, network.InspectOptions{})
	if ierr != nil || len(n.Containers) == 0 {
		return err
	}
	for cid := range n.Containers {
		_ = cli.NetworkDisconnect(ctx, id, cid, true)
	}
	if err := cli.NetworkRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// stopHostNginx stops the nginx master whose pid is in pidFile, if it is an
// nginx started for dir (its command line names dir): SIGTERM, then SIGKILL
// for it and its workers after 10s.
func stopHostNginx(pidFile, dir string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never started, or already stopped
	}
	if err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("seedtopo: pid file %s: %q", pidFile, b)
	}
	if !isOurNginx(pid, dir) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("seedtopo: stop host nginx %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			for _, w := range children(pid) {
				_ = syscall.Kill(w, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("seedtopo: host nginx %d ignored SIGTERM for 10s: killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// isOurNginx reports whether pid is an nginx master started with -p dir.
func isOurNginx(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	s := string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	return strings.Contains(s, "nginx") && strings.Contains(s, dir)
}

// alive reports whether pid runs (a zombie, waiting for a reaper, does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

func (t *Topology) containerLogs(ctx context.Context, id string) string {
	r, err := t.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "15"})
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	defer func() { _ = r.Close() }()
	var b bytes.Buffer
	_, _ = stdcopy.StdCopy(&b, &b, r)
	return b.String()
}

// Sweep removes what crashed runs left: containers and networks labelled
// nonstop.test (any project) created more than olderThan ago, and
// seedtopo temp dirs as old, stopping the host nginx started for them.
// Pick olderThan well above the longest test run: other runs on the same
// engine may be live.
func Sweep(ctx context.Context, cli client.APIClient, olderThan time.Duration) error {
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	label := filters.NewArgs(filters.Arg("label", LabelKey))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: label})
	if err != nil {
		return fmt.Errorf("seedtopo: sweep: list containers: %w", err)
	}
	for _, c := range cs {
		if time.Unix(c.Created, 0).Before(cutoff) {
			if err := removeContainer(ctx, cli, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("seedtopo: sweep: remove container %s: %w", strings.Join(c.Names, ","), err))
			}
		}
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: label})
	if err != nil {
		errs = append(errs, fmt.Errorf("seedtopo: sweep: list networks: %w", err))
	}
	for _, n := range nets {
		if n.Created.Before(cutoff) {
			if err := removeNetwork(ctx, cli, n.ID); err != nil {
				errs = append(errs, fmt.Errorf("seedtopo: sweep: remove network %s: %w", n.Name, err))
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "nonstop-seedtopo-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := stopHostNginx(filepath.Join(d, "nginx.pid"), d); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("seedtopo: sweep: %w", err))
		}
	}
	return errors.Join(errs...)
}
