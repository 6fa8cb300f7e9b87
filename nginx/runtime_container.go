// This file holds the Runtime of nginx as PID 1 of a Docker container,
// driven only through the Docker API (exec, kill, top, inspect), with a
// /proc fast path for its processes when the engine runs on this machine.

package nginx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// containerRuntime is nginx as PID 1 of a Docker container, driven only
// through the Docker API, so the image needs no shell, ps or kill.
type containerRuntime struct {
	cli       client.APIClient
	container string
	binary    string
	proc      procFS // this machine's process table

	// mu guards the host-PID cache of Processes' fast path.
	mu sync.Mutex
	// hostPID is the container's PID 1 as this machine's /proc shows it,
	// once proven to be the nginx master of this container; 0: not looked
	// up yet; -1: /proc cannot see it (remote engine, other PID namespace,
	// nginx not PID 1), use the top API.
	hostPID int
	// pidMounts are the container's mounts as inspect gave them when
	// hostPID was found: a running container's mounts do not change, so
	// they hold as long as hostPID does (see Seen).
	pidMounts []Mount
	// enginePaths maps the paths of files reached through the engine
	// (ContainerFile) to their names in the container.
	enginePaths map[string]string
}

// ContainerRuntime talks to nginx running as PID 1 of a Docker container
// (the seed's setup): `nginx -t` through the exec API, reload by sending
// SIGHUP to the container, processes through the top API. binary is the
// nginx executable inside the container, default "nginx" (found through the
// container's PATH). container is a name or ID.
func ContainerRuntime(cli client.APIClient, container, binary string) Runtime {
	if binary == "" {
		binary = "nginx"
	}
	return &containerRuntime{cli: cli, container: container, binary: binary, proc: hostProc}
}

// String names the container as the caller named it.
func (r *containerRuntime) String() string { return fmt.Sprintf("container %q", r.container) }

// Test runs `nginx -t -q` in the container, with the flags its master was
// started with (see startFlags), and returns its combined output in a
// *TestError when the exit code is not 0.
func (r *containerRuntime) Test(ctx context.Context) error {
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	out, code, err := r.exec(ctx, append([]string{r.binary, "-t", "-q"}, startFlags(r.binary, ins.Path, ins.Args)...))
	if err != nil {
		return err
	}
	if code != 0 {
		return &TestError{Output: string(out)}
	}
	return nil
}

// exec runs cmd in the container and returns its combined output and exit
// code.
func (r *containerRuntime) exec(ctx context.Context, cmd []string) ([]byte, int, error) {
	var out bytes.Buffer
	code, err := r.execTo(ctx, cmd, &out, &out)
	if err != nil {
		return nil, 0, err
	}
	return out.Bytes(), code, nil
}

// execTo runs cmd in the container, copies its stdout and stderr to the
// writers, and returns its exit code.
func (r *containerRuntime) execTo(ctx context.Context, cmd []string, stdout, stderr io.Writer) (int, error) {
	created, err := r.cli.ContainerExecCreate(ctx, r.container, container.ExecOptions{
		Cmd:          cmd,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return 0, fmt.Errorf("%s: exec %s: %w", r, strings.Join(cmd, " "), err)
	}
	att, err := r.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return 0, fmt.Errorf("%s: exec %s: %w", r, strings.Join(cmd, " "), err)
	}
	defer att.Close()
	// The hijacked connection ignores ctx once established; close it on
	// cancel so a hung exec cannot hang the caller.
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	if _, err := stdcopy.StdCopy(stdout, stderr, att.Reader); err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%s: exec %s: %w", r, strings.Join(cmd, " "), ctx.Err())
		}
		return 0, fmt.Errorf("%s: exec %s: reading output: %w", r, strings.Join(cmd, " "), err)
	}
	// The stream ends when the process exits; the engine may need a moment
	// to record the exit code.
	for {
		ins, err := r.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return 0, fmt.Errorf("%s: exec %s: %w", r, strings.Join(cmd, " "), err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: exec %s: %w", r, strings.Join(cmd, " "), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Reload sends SIGHUP to the container's PID 1, which must be the nginx
// master (as in the official and the test images).
func (r *containerRuntime) Reload(ctx context.Context) error {
	if err := r.cli.ContainerKill(ctx, r.container, "HUP"); err != nil {
		return fmt.Errorf("%s: sending SIGHUP: %w", r, err)
	}
	return nil
}

// Processes returns the nginx master and its children. Where the engine
// runs on this machine, they are read from /proc (microseconds: the
// drain and reload waits poll this every few milliseconds); otherwise
// through the top API (the engine runs ps on its side, so the image needs
// no tools; 50-200 ms a call). Other processes in the container, such as a
// concurrent `nginx -t` exec, are left out either way.
func (r *containerRuntime) Processes(ctx context.Context) ([]Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if procs, ok := r.procProcesses(ctx); ok {
		return procs, nil
	}
	return r.topProcesses(ctx)
}

// procProcesses is Processes' fast path: the container's PID 1, found once
// through inspect and proven to be this container's nginx master by its
// cgroup and title, and its children, read from /proc. ok is false when
// /proc cannot answer; the caller then asks the engine.
func (r *containerRuntime) procProcesses(ctx context.Context) (procs []Process, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for try := 0; try < 2; try++ {
		if r.hostPID < 0 {
			return nil, false
		}
		if r.hostPID == 0 {
			r.hostPID, r.pidMounts = r.findHostPID(ctx)
			continue
		}
		procs, err := r.proc.tree(r.hostPID)
		if err == nil && len(procs) > 0 && strings.Contains(procs[0].Cmd, "master process") {
			return procs, true
		}
		// Gone or replaced (the container restarted): look it up again.
		r.hostPID, r.pidMounts = 0, nil
	}
	return nil, false
}

// findHostPID returns the container's PID 1 when this machine's /proc shows
// it as the nginx master of this very container, 0 when the container is
// not running (ask again later), and -1 when /proc will not do; with the
// container's mounts when the PID is good.
func (r *containerRuntime) findHostPID(ctx context.Context) (int, []Mount) {
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil || ins.State == nil || !ins.State.Running || ins.State.Pid <= 0 {
		return 0, nil
	}
	pid := ins.State.Pid
	if !r.proc.inCgroup(pid, ins.ID) {
		return -1, nil
	}
	if cmd, err := r.proc.cmdline(pid); err != nil || !strings.Contains(cmd, "master process") {
		return -1, nil
	}
	return pid, mountsOf(ins)
}

// topProcesses is Processes through the engine's top API.
func (r *containerRuntime) topProcesses(ctx context.Context) ([]Process, error) {
	top, err := r.cli.ContainerTop(ctx, r.container, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: listing processes: %w", r, err)
	}
	all, err := parseTop(top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	var master *Process
	pids := make(map[int]bool, len(all))
	for _, p := range all {
		pids[p.PID] = true
	}
	for i, p := range all {
		if strings.Contains(p.Cmd, "master process") && !pids[p.PPID] {
			master = &all[i]
			break
		}
	}
	if master == nil {
		return nil, fmt.Errorf("%s: no nginx master process among %d processes (is nginx PID 1 and running?)", r, len(all))
	}
	procs := []Process{*master}
	for _, p := range all {
		if p.PPID == master.PID {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// parseTop finds the PID, PPID and command columns by their titles, so it
// works with any ps the engine uses (procps: "UID PID PPID C STIME TTY TIME
// CMD"; others say COMMAND or ARGS). The engine already joins the last
// column's words.
func parseTop(top container.TopResponse) ([]Process, error) {
	pidCol, ppidCol, cmdCol := -1, -1, -1
	for i, t := range top.Titles {
		switch strings.ToUpper(strings.TrimSpace(t)) {
		case "PID":
			pidCol = i
		case "PPID":
			ppidCol = i
		case "CMD", "COMMAND", "ARGS":
			cmdCol = i
		}
	}
	if pidCol < 0 || ppidCol < 0 || cmdCol < 0 {
		return nil, fmt.Errorf("unexpected ps columns %q: need PID, PPID and CMD", top.Titles)
	}
	var procs []Process
	for _, row := range top.Processes {
		if len(row) <= max(pidCol, ppidCol, cmdCol) {
			continue
		}
		pid, err1 := strconv.Atoi(strings.TrimSpace(row[pidCol]))
		ppid, err2 := strconv.Atoi(strings.TrimSpace(row[ppidCol]))
		if err1 != nil || err2 != nil {
			continue
		}
		cmd := row[cmdCol]
		if cmdCol == len(top.Titles)-1 && len(row) > len(top.Titles) {
			cmd = strings.Join(row[cmdCol:], " ") // an engine that did not join
		}
		procs = append(procs, Process{PID: pid, PPID: ppid, Cmd: strings.TrimSpace(cmd)})
	}
	return procs, nil
}

// Resolves answers the question nginx's resolver will ask inside the
// container. On user-defined networks Docker's embedded DNS answers for the
// names and network aliases of RUNNING containers on the same network, so
// that is looked up through the Docker API (a stopped or renamed container
// does not resolve). IP literals, unix sockets, --add-host entries and the
// container's own hostname resolve too. Any other name (public DNS, names
// from the host's /etc/hosts) is looked up with net.DefaultResolver on the
// machine running Nonstop, an approximation of the container's upstream DNS,
// which Docker forwards to the host's resolvers.
func (r *containerRuntime) Resolves(ctx context.Context, host string) error {
	if resolveLiteral(host) {
		return nil
	}
	want := strings.ToLower(strings.TrimSuffix(host, "."))
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil {
		return cannotCheck{fmt.Errorf("%s: checking whether %q resolves: %w", r, host, err)}
	}
	if ins.Config != nil && strings.EqualFold(ins.Config.Hostname, want) {
		return nil
	}
	if ins.HostConfig != nil {
		for _, eh := range ins.HostConfig.ExtraHosts { // "name:ip"
			if name, _, ok := strings.Cut(eh, ":"); ok && strings.EqualFold(name, want) {
				return nil
			}
		}
	}
	var searched []string
	if ins.NetworkSettings != nil {
		names := make([]string, 0, len(ins.NetworkSettings.Networks))
		for n := range ins.NetworkSettings.Networks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, netName := range names {
			ep := ins.NetworkSettings.Networks[netName]
			if ep == nil || netName == "bridge" || netName == "host" || netName == "none" {
				continue // no embedded DNS on the default bridge
			}
			searched = append(searched, netName)
			ok, err := r.onNetwork(ctx, netName, ep.NetworkID, want)
			if err != nil {
				return cannotCheck{err}
			}
			if ok {
				return nil
			}
		}
	}
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err == nil {
		return nil
	}
	where := "it is on no user-defined network"
	if len(searched) > 0 {
		where = fmt.Sprintf("no running container on its networks (%s) has that name or alias", strings.Join(searched, ", "))
	}
	return fmt.Errorf("host %q does not resolve in %s: %s, and the host's resolver does not know it either", host, r, where)
}

// onNetwork reports whether a running container on the network answers to
// name (container name or network alias, which in engine 20.10 includes the
// short ID).
func (r *containerRuntime) onNetwork(ctx context.Context, netName, netID, name string) (bool, error) {
	key := netID
	if key == "" {
		key = netName
	}
	list, err := r.cli.ContainerList(ctx, container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("network", key), filters.Arg("status", "running")),
	})
	if err != nil {
		return false, fmt.Errorf("%s: listing containers on network %q: %w", r, netName, err)
	}
	for _, c := range list {
		for _, n := range c.Names {
			if strings.EqualFold(strings.TrimPrefix(n, "/"), name) {
				return true, nil
			}
		}
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[netName]; ep != nil && hasName(ep.Aliases, ep.DNSNames, name) {
				return true, nil
			}
		}
		// The list does not always carry aliases; inspect to be sure.
		ci, err := r.cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			continue // removed meanwhile
		}
		if ci.State == nil || !ci.State.Running || ci.NetworkSettings == nil {
			continue
		}
		if ep := ci.NetworkSettings.Networks[netName]; ep != nil && hasName(ep.Aliases, ep.DNSNames, name) {
			return true, nil
		}
	}
	return false, nil
}

func hasName(aliases, dnsNames []string, name string) bool {
	for _, l := range [][]string{aliases, dnsNames} {
		for _, a := range l {
			if strings.EqualFold(a, name) {
				return true
			}
		}
	}
	return false
}

// Connections implements ConnLister where /proc shows the container's
// processes (see Processes); elsewhere it says it cannot. Upstream
// addresses are named after the containers that have them on nginx's
// networks.
func (r *containerRuntime) Connections(ctx context.Context, pids []int) ([]Conn, error) {
	procs, ok := r.procProcesses(ctx)
	if !ok {
		return nil, fmt.Errorf("%s: the connections of its processes are not visible from this machine", r)
	}
	conns := r.proc.connsOf(procs[0].PID, pids)
	names := r.ipNames(ctx)
	for i, c := range conns {
		if host, _, err := net.SplitHostPort(c.Remote); err == nil && !c.Inbound {
			conns[i].RemoteName = names[host]
		}
	}
	return conns, nil
}

// ipNames maps the IP addresses of the containers on nginx's networks to
// their names, best effort.
func (r *containerRuntime) ipNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil || ins.NetworkSettings == nil {
		return names
	}
	for _, ep := range ins.NetworkSettings.Networks {
		if ep == nil || ep.NetworkID == "" {
			continue
		}
		list, err := r.cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("network", ep.NetworkID))})
		if err != nil {
			continue
		}
		for _, c := range list {
			if c.NetworkSettings == nil || len(c.Names) == 0 {
				continue
			}
			for _, e := range c.NetworkSettings.Networks {
				if e != nil && e.IPAddress != "" {
					names[e.IPAddress] = strings.TrimPrefix(c.Names[0], "/")
				}
			}
		}
	}
	return names
}
