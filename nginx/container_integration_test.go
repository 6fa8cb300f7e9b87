package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// backendConf is an nginx that answers its name; /slow sends 3 KB at 1 KB/s.
func backendConf(name string) string {
	return fmt.Sprintf(`worker_processes 1;
pid /var/run/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 80;
        location / { return 200 "%s"; }
        location /slow { limit_rate 1k; return 200 "%s%s"; }
    }
}
`, name, name, strings.Repeat(".", 3000))
}

const proxyConf = `# the proxy under test
worker_processes 2;
pid /var/run/nginx.pid;

events {
    worker_connections 256;
}

http {
    access_log off;

    upstream apps {
        server appa:80;
        server appb:80;
    }

    server {
        listen 80;
        location / {
            proxy_pass http://apps;
        }
    }
}
`

type dockerEnv struct {
	t       *testing.T
	cli     client.APIClient
	image   string
	network string
	dir     string
}

// run creates and starts an nginx container with conf bind-mounted (read
// only) as its only config, on the test network with the given aliases, and
// removes it when the test ends.
func (d *dockerEnv) run(ctx context.Context, name, conf string, aliases ...string) (id, confPath string) {
	t := d.t
	t.Helper()
	confPath = filepath.Join(d.dir, name+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	created, err := d.cli.ContainerCreate(ctx,
		&container.Config{Image: d.image, Labels: map[string]string{"nonstop.test": "nginx"}},
		&container.HostConfig{Binds: []string{confPath + ":/etc/nginx/nginx.conf:ro"}},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{d.network: {Aliases: aliases}}},
		nil, name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if t.Failed() {
			if rc, err := d.cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
				var out bytes.Buffer
				_, _ = stdcopy.StdCopy(&out, &out, rc)
				rc.Close()
				t.Logf("logs of %s:\n%s", name, out.String())
			}
		}
		if err := d.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Logf("removing %s: %v", name, err)
		}
	})
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return created.ID, confPath
}

func (d *dockerEnv) ip(ctx context.Context, id string) string {
	d.t.Helper()
	ins, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		d.t.Fatal(err)
	}
	ep := ins.NetworkSettings.Networks[d.network]
	if ep == nil || ep.IPAddress == "" {
		d.t.Fatalf("container %s has no address on %s", id, d.network)
	}
	return ep.IPAddress
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := httpClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestContainerNginxIntegration(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ref, err := testimage.Nginx(ctx, cli)
	if err != nil {
		t.Fatalf("building the nginx test image: %v", err)
	}
	netName := testenv.UniqueName("nonstop-nginx-test")
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Labels: map[string]string{"nonstop.test": "nginx"}}); err != nil {
		t.Fatal(err)
	}
	d := &dockerEnv{t: t, cli: cli, image: ref, network: netName, dir: t.TempDir()}
	t.Cleanup(func() { // registered first, so it runs after the containers are gone
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.NetworkRemove(ctx, netName); err != nil {
			t.Logf("removing network %s: %v", netName, err)
		}
	})
	aName, bName, pName := testenv.UniqueName("nonstop-a"), testenv.UniqueName("nonstop-b"), testenv.UniqueName("nonstop-proxy")
	aID, _ := d.run(ctx, aName, backendConf("A"), "appa")
	d.run(ctx, bName, backendConf("B"), "appb")
	pID, conf := d.run(ctx, pName, proxyConf)
	url := "http://" + d.ip(ctx, pID) + ":80"
	waitHTTP(t, url)

	rt := ContainerRuntime(cli, pName, "")
	if rt.String() != fmt.Sprintf("container %q", pName) {
		t.Errorf("String() = %s", rt)
	}
	waitWorkers(t, rt, 2)

	t.Run("Processes", func(t *testing.T) {
		procs, err := rt.Processes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		master, children, ok := masterOf(procs)
		if !ok || !strings.HasPrefix(master.Cmd, "nginx: master process") || len(children) != 2 || len(procs) != 3 {
			t.Fatalf("processes: %+v", procs)
		}
		t.Logf("container processes: %+v", procs)
	})

	// The /proc fast path must see exactly what the engine's ps sees, and
	// must be the path taken where the engine is local (as here and in CI).
	t.Run("ProcessesProcMatchesTop", func(t *testing.T) {
		cr := rt.(*containerRuntime)
		fast, ok := cr.procProcesses(ctx)
		if !ok {
			t.Fatalf("the /proc fast path was not taken (hostPID %d) although the engine is local", cr.hostPID)
		}
		top, err := cr.topProcesses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := func(ps []Process) []string {
			var out []string
			for _, p := range ps {
				out = append(out, fmt.Sprintf("%d<-%d %s", p.PID, p.PPID, p.Cmd))
			}
			sort.Strings(out)
			return out
		}
		// The master's PPID is the shim for both, but the engine's ps may
		// see it differently; compare the children and the master's PID.
		fm, fc, _ := masterOf(fast)
		tm, tc, _ := masterOf(top)
		if fm.PID != tm.PID || !slices.Equal(key(fc), key(tc)) {
			t.Fatalf("/proc: %v\ntop:   %v", key(fast), key(top))
		}
		// A runtime for another container (backend A: an nginx with one
		// worker) finds that container's own master.
		other := ContainerRuntime(cli, aName, "").(*containerRuntime)
		op, ok := other.procProcesses(ctx)
		if !ok {
			t.Fatal("the fast path was not taken for backend A")
		}
		if om, oc, _ := masterOf(op); om.PID == fm.PID || len(oc) != 1 {
			t.Fatalf("backend A's processes %v, the proxy's master %d", key(op), fm.PID)
		}
	})

	t.Run("Test", func(t *testing.T) {
		if err := rt.Test(ctx); err != nil {
			t.Fatal(err)
		}
		broken := strings.Replace(proxyConf, "access_log off;", "access_log off;\n    no_such_directive on;", 1)
		writeInPlace(t, conf, broken)
		defer writeInPlace(t, conf, proxyConf)
		err := rt.Test(ctx)
		var te *TestError
		if !errors.As(err, &te) || !strings.Contains(te.Output, `unknown directive "no_such_directive"`) {
			t.Fatalf("Test on a broken config = %v", err)
		}
		t.Logf("nginx -t in the container: %v", err)
	})

	t.Run("Reload", func(t *testing.T) {
		before := workerPIDs(t, rt)
		if err := rt.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			after := workerPIDs(t, rt)
			if len(after) == 2 && after[0] != before[0] && after[0] != before[1] && after[1] != before[0] && after[1] != before[1] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new workers: %v -> %v", before, after)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("Resolves", func(t *testing.T) {
		for _, h := range []string{"appa", "APPB", aName, "10.1.2.3", "[::1]", "localhost"} {
			if err := rt.Resolves(ctx, h); err != nil {
				t.Errorf("Resolves(%q) = %v", h, err)
			}
		}
		err := rt.Resolves(ctx, "nonstop-no-such-host.invalid")
		if err == nil || !strings.Contains(err.Error(), `"nonstop-no-such-host.invalid"`) || !strings.Contains(err.Error(), netName) {
			t.Errorf("Resolves(unknown) = %v", err)
		}
	})

	t.Run("Balancer", func(t *testing.T) {
		bal := New(Options{ConfigPath: conf, Upstream: "apps", Runtime: rt, WriteInPlace: true, Log: testLogger(t)})
		if err := bal.Check(ctx, []string{"appa:80", "appb:80"}); err != nil {
			t.Fatal(err)
		}
		if seen := hits(t, url, 20); seen["A"] == 0 || seen["B"] == 0 {
			t.Fatalf("before: %v", seen)
		}
		// A slow request through nginx, in flight during the change.
		done := make(chan error, 1)
		go func() {
			resp, err := httpClient.Get(url + "/slow")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			done <- err
		}()
		time.Sleep(300 * time.Millisecond) // let it reach a backend
		c, err := bal.MarkDown(ctx, "appa:80")
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, conf); got != strings.Replace(proxyConf, "server appa:80;", "server appa:80 down;", 1) {
			t.Fatalf("config after MarkDown:\n%s", got)
		}
		if seen := hits(t, url, 20); seen["B"] != 20 {
			t.Fatalf("after MarkDown: %v", seen)
		}
		rep, err := bal.WaitDrained(ctx, c, 30*time.Second)
		if err != nil || rep.TimedOut {
			t.Fatalf("WaitDrained = %+v, %v", rep, err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("in-flight request: %v", err)
			}
		default:
			t.Fatal("drained before the in-flight request finished")
		}
		t.Logf("drain in the container took %s", rep.Took)

		// The deploy step removes the old container: appa stops resolving,
		// and Restore must refuse.
		if err := cli.ContainerStop(ctx, aID, container.StopOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := rt.Resolves(ctx, "appa"); err == nil {
			t.Error("a stopped container still resolves")
		}
		_, err = bal.Restore(ctx, "appa:80")
		if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), `"appa"`) {
			t.Fatalf("Restore of a stopped container = %v", err)
		}
		if err := rt.Test(ctx); err == nil {
			t.Error("nginx -t passed with a stopped upstream host (marked down)")
		} else {
			t.Logf("nginx -t while appa is stopped: %v", err)
		}
		if err := cli.ContainerStart(ctx, aID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := bal.Undo(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, conf); got != proxyConf {
			t.Fatalf("config after Undo:\n%s", got)
		}
		waitHTTP(t, "http://"+d.ip(ctx, aID)+":80")
		if seen := hits(t, url, 20); seen["A"] == 0 || seen["B"] == 0 {
			t.Fatalf("after Undo: %v", seen)
		}
	})
}

// writeInPlace rewrites a bind-mounted file without replacing its inode.
func writeInPlace(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}
