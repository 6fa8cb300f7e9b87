// Package dockerd2 starts a second, real Docker Engine on this machine for
// tests of plans that span several engines: Debian's dockerd with its own
// socket, data root, exec root (and so its own containerd), pid file,
// daemon.json and a bridge of its own on a free 10.213.X.0/24 subnet,
// without iptables (published ports go through docker-proxy on
// 127.0.0.1, which is all the tests use) so the main engine's rules are
// never touched. Images come from the main engine by save and load: no
// registry is needed. Close stops it and removes everything it made,
// also after a failed Start.
package dockerd2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// Engine is a running second dockerd.
type Engine struct {
	// Host is its address, unix://DIR/docker.sock.
	Host string
	// Client is connected to it.
	Client *client.Client
	// Subnet is its bridge's subnet, e.g. "10.213.7.0/24".
	Subnet string

	dir    string
	bridge string
	cmd    *exec.Cmd
	exited chan error
}

// Start runs a second dockerd with the storage driver of main (so it
// works where the main one does) and waits until it answers. It needs
// root, dockerd and ip(8).
func Start(ctx context.Context, main client.APIClient) (e *Engine, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("dockerd2: a second dockerd needs root")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd2: %w (apt-get install docker.io)", err)
	}
	info, err := main.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dockerd2: asking the main engine its storage driver: %w", err)
	}
	e = &Engine{exited: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = e.Close(context.Background())
		}
	}()
	if e.dir, err = os.MkdirTemp("", "nonstop-dockerd2-"); err != nil {
		return nil, fmt.Errorf("dockerd2: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, fmt.Errorf("dockerd2: %w", err)
	}
	if err := e.makeBridge(); err != nil {
		return nil, err
	}
	sock := filepath.Join(e.dir, "docker.sock")
	e.Host = "unix://" + sock
	args := []string{
		"--config-file", filepath.Join(e.dir, "daemon.json"),
		"-H", e.Host,
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "docker.pid"),
		"--bridge", e.bridge,
		"--iptables=false", "--ip-masq=false",
		"--storage-driver", info.Driver,
	}
	logf, err := os.Create(filepath.Join(e.dir, "dockerd.log"))
	if err != nil {
		return nil, fmt.Errorf("dockerd2: %w", err)
	}
	e.cmd = exec.Command(dockerd, args...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	// Its own process group: a ^C to the test reaches it through Close,
	// not as a signal that would leave the main engine's work racing.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("dockerd2: starting dockerd: %w", err)
	}
	go func() { e.exited <- e.cmd.Wait(); _ = logf.Close() }()
	if e.Client, err = client.NewClientWithOpts(client.WithHost(e.Host), client.WithAPIVersionNegotiation()); err != nil {
		return nil, fmt.Errorf("dockerd2: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, perr := e.Client.Ping(pctx)
		cancel()
		if perr == nil {
			return e, nil
		}
		select {
		case werr := <-e.exited:
			e.exited <- werr
			return nil, fmt.Errorf("dockerd2: dockerd exited while starting (%v):\n%s", werr, e.LogTail(3000))
		case <-ctx.Done():
			return nil, fmt.Errorf("dockerd2: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("dockerd2: dockerd did not answer within 60s: %v\n%s", perr, e.LogTail(3000))
		}
	}
}

// makeBridge creates a bridge "nsd2-XXXXXX" on a 10.213.X.0/24 subnet that
// no interface of this machine uses.
func (e *Engine) makeBridge() error {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	used := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				used[ipn.IP.Mask(net.CIDRMask(24, 32)).String()] = true
			}
		}
	}
	x := -1
	for i := 0; i < 256; i++ {
		c := (int(b[0]) + i) % 256
		if !used[fmt.Sprintf("10.213.%d.0", c)] {
			x = c
			break
		}
	}
	if x < 0 {
		return errors.New("dockerd2: no free 10.213.X.0/24 subnet")
	}
	e.bridge = "nsd2-" + hex.EncodeToString(b[1:4])
	e.Subnet = fmt.Sprintf("10.213.%d.0/24", x)
	for _, args := range [][]string{
		{"link", "add", e.bridge, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("10.213.%d.1/24", x), "dev", e.bridge},
		{"link", "set", e.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("dockerd2: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// LoadImage copies image ref from the engine from to this one (docker
// save | docker load).
func (e *Engine) LoadImage(ctx context.Context, from client.APIClient, ref string) error {
	rc, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("dockerd2: saving %s: %w", ref, err)
	}
	defer func() { _ = rc.Close() }()
	resp, err := e.Client.ImageLoad(ctx, rc)
	if err != nil {
		return fmt.Errorf("dockerd2: loading %s: %w", ref, err)
	}
	// The load runs as its answer streams: read it to the end.
	out, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if _, err := e.Client.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("dockerd2: %s not there after loading (%v): %w: %s", ref, rerr, err, out)
	}
	return nil
}

// LogTail is the end of dockerd's log, for failure messages.
func (e *Engine) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Close removes every container of the engine, stops dockerd (SIGTERM,
// SIGKILL after 20s), deletes its bridge, unmounts what it left mounted
// and removes its folder. It reports what it could not undo.
func (e *Engine) Close(ctx context.Context) error {
	var errs []error
	if e.Client != nil && e.cmd != nil {
		if list, err := e.Client.ContainerList(ctx, container.ListOptions{All: true}); err == nil {
			for _, c := range list {
				if err := e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
					errs = append(errs, err)
				}
			}
		}
		_ = e.Client.Close()
	}
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case werr := <-e.exited:
			_ = werr // a SIGTERMed dockerd exits non-zero: expected
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			werr := <-e.exited
			errs = append(errs, fmt.Errorf("dockerd2: dockerd ignored SIGTERM for 20s: killed (%v)", werr))
		}
	}
	if e.bridge != "" {
		if out, err := exec.Command("ip", "link", "del", e.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			errs = append(errs, fmt.Errorf("dockerd2: ip link del %s: %v: %s", e.bridge, err, out))
		}
	}
	if e.dir != "" {
		unmountUnder(e.dir)
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, fmt.Errorf("dockerd2: %w", err))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder lazily unmounts every mount point under dir, deepest first
// (a killed dockerd leaves its layers and netns files mounted).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}
