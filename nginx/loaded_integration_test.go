package nginx

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// copyTo writes src's bytes to a file of the same name in a new folder.
func copyTo(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// replaceByRename puts a new file with the same bytes over path (a new
// inode), as an editor or a git checkout does.
func replaceByRename(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Issue #9: the file a Balancer edits must be the file nginx in the
// container loads. A copy of the mounted config is refused by the
// preflight with nothing changed; a mounted file replaced by a rename
// (the container keeps reading the old inode) fails the change before any
// reload, and the file is put back.
func TestContainerNginxEditsOnlyWhatItLoads(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ref, err := testimage.Nginx(ctx, cli)
	if err != nil {
		t.Fatalf("building the nginx test image: %v", err)
	}
	netName := testenv.UniqueName("nonstop-loaded-test")
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Labels: map[string]string{"nonstop.test": "nginx"}}); err != nil {
		t.Fatal(err)
	}
	d := &dockerEnv{t: t, cli: cli, image: ref, network: netName, dir: t.TempDir()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.NetworkRemove(ctx, netName); err != nil {
			t.Logf("removing network %s: %v", netName, err)
		}
	})
	d.run(ctx, testenv.UniqueName("nonstop-a"), backendConf("A"), "appa")
	d.run(ctx, testenv.UniqueName("nonstop-b"), backendConf("B"), "appb")
	pName := testenv.UniqueName("nonstop-proxy")
	pID, conf := d.run(ctx, pName, proxyConf)
	waitHTTP(t, "http://"+d.ip(ctx, pID)+":80")
	rt := ContainerRuntime(cli, pName, "")
	waitWorkers(t, rt, 2)
	servers := []string{"appa:80", "appb:80"}

	t.Run("the mounted file passes", func(t *testing.T) {
		bal := New(Options{ConfigPath: conf, Upstream: "apps", Runtime: rt, WriteInPlace: true, Log: testLogger(t)})
		if err := bal.Check(ctx, servers); err != nil {
			t.Fatal(err)
		}
		// What `nginx -T` and the two ways of reading a file cost here.
		cr := rt.(*containerRuntime)
		for _, m := range []struct {
			what string
			f    func() error
		}{
			{"nginx -v (exec: the exec API alone)", func() error { _, _, err := cr.exec(ctx, []string{"nginx", "-v"}); return err }},
			{"nginx -t (exec)", func() error { return rt.Test(ctx) }},
			{"nginx -T (exec) + inspect", func() error { _, err := rt.Dump(ctx); return err }},
			{"Seen (/proc/PID/root, cached mounts)", func() error { _, _, err := rt.Seen(ctx, conf); return err }},
			{"read through the archive API", func() error { _, err := cr.copyOut(ctx, "/etc/nginx/nginx.conf"); return err }},
		} {
			var ds []time.Duration
			for range 5 {
				t0 := time.Now()
				if err := m.f(); err != nil {
					t.Fatalf("%s: %v", m.what, err)
				}
				ds = append(ds, time.Since(t0))
			}
			slices.Sort(ds)
			t.Logf("%-34s median %s (min %s, max %s)", m.what, ds[2].Round(time.Millisecond/10), ds[0].Round(time.Millisecond/10), ds[4].Round(time.Millisecond/10))
		}
		if cr.pidMounts == nil {
			t.Error("Seen did not take the /proc fast path although the engine is local")
		}
		b, err := cr.copyOut(ctx, "/etc/nginx/nginx.conf")
		if err != nil || string(b) != proxyConf {
			t.Fatalf("archive read = %q, %v", b, err)
		}
	})

	// nginx started with -c on a file in a mounted folder: the test and
	// the proof use the master's own flags (the image has no default
	// nginx.conf), and the folder mount maps the file.
	t.Run("a custom -c in a mounted folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "custom")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		main := filepath.Join(dir, "main.conf")
		if err := os.WriteFile(main, []byte(strings.Replace(proxyConf, "pid /var/run/nginx.pid;", "pid /tmp/nginx.pid;", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		name := testenv.UniqueName("nonstop-custom")
		created, err := cli.ContainerCreate(ctx,
			&container.Config{Image: ref, Cmd: []string{"nginx", "-c", "/etc/nginx/custom/main.conf", "-g", "daemon off;"}, Labels: map[string]string{"nonstop.test": "nginx"}},
			&container.HostConfig{Binds: []string{dir + ":/etc/nginx/custom:ro"}, Tmpfs: map[string]string{"/tmp": ""}},
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {}}}, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if t.Failed() {
				if rc, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
					var out bytes.Buffer
					_, _ = stdcopy.StdCopy(&out, &out, rc)
					rc.Close()
					t.Logf("logs of %s:\n%s", name, out.String())
				}
			}
			_ = cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
		})
		if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		crt := ContainerRuntime(cli, name, "")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := crt.Processes(ctx); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
		waitWorkers(t, crt, 2)
		bal := New(Options{ConfigPath: main, Upstream: "apps", Runtime: crt, WriteInPlace: true, Log: testLogger(t)})
		if err := bal.Check(ctx, servers); err != nil {
			t.Fatal(err)
		}
		if _, err := bal.MarkDown(ctx, "appa:80"); err != nil {
			t.Fatal(err)
		}
		// Another file of the folder is mounted, but nginx does not load it.
		other := filepath.Join(dir, "unused.conf")
		if err := os.WriteFile(other, []byte(proxyConf), 0o644); err != nil {
			t.Fatal(err)
		}
		err = New(Options{ConfigPath: other, Upstream: "apps", Runtime: crt, Log: testLogger(t)}).Check(ctx, servers)
		if !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), "/etc/nginx/custom/main.conf (this machine's "+main+")") {
			t.Fatalf("Check of a mounted file nginx does not load = %v", err)
		}
		t.Logf("the refusal:\n%v", err)
	})

	t.Run("a copy is refused", func(t *testing.T) {
		cp := copyTo(t, conf)
		workers := workerPIDs(t, rt)
		bal := New(Options{ConfigPath: cp, Upstream: "apps", Runtime: rt, WriteInPlace: true, Log: testLogger(t)})
		err := bal.Check(ctx, servers)
		if !errors.Is(err, ErrNotLoaded) {
			t.Fatalf("Check of a copy = %v", err)
		}
		t.Logf("the refusal:\n%v", err)
		for _, want := range []string{
			`container "` + pName + `" does not load ` + cp,
			"/etc/nginx/nginx.conf (this machine's " + conf + ")",
			"bind " + conf + " -> /etc/nginx/nginx.conf",
			`Fix: set the nginx block's config to "` + conf + `"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal lacks %q", want)
			}
		}
		// Changes are refused too, should a caller skip the preflight.
		if _, err := bal.MarkDown(ctx, "appa:80"); !errors.Is(err, ErrNotLoaded) {
			t.Fatalf("MarkDown of a copy = %v", err)
		}
		if got := readFile(t, cp); got != proxyConf {
			t.Fatalf("the copy changed:\n%s", got)
		}
		if got := workerPIDs(t, rt); !slices.Equal(got, workers) {
			t.Fatalf("nginx reloaded: workers %v -> %v", workers, got)
		}
	})

	t.Run("a replaced mount fails the change before the reload", func(t *testing.T) {
		replaceByRename(t, conf) // same bytes, new inode: nginx reads the old one
		workers := workerPIDs(t, rt)
		bal := New(Options{ConfigPath: conf, Upstream: "apps", Runtime: rt, WriteInPlace: true, Log: testLogger(t)})
		if err := bal.Check(ctx, servers); err != nil {
			t.Fatalf("same bytes, so the preflight passes: %v", err)
		}
		_, err := bal.MarkDown(ctx, "appa:80")
		if !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), "/etc/nginx/nginx.conf") {
			t.Fatalf("MarkDown that nginx cannot see = %v", err)
		}
		t.Logf("the failure: %v", err)
		if got := readFile(t, conf); got != proxyConf {
			t.Fatalf("the edit was not reverted:\n%s", got)
		}
		if got := workerPIDs(t, rt); !slices.Equal(got, workers) {
			t.Fatalf("nginx reloaded: workers %v -> %v", workers, got)
		}
		// Once the bytes differ, the preflight says why and what to do.
		writeInPlace(t, conf, strings.Replace(proxyConf, "# the proxy under test", "# edited", 1))
		err = bal.Check(ctx, servers)
		if !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), "restart the nginx container") {
			t.Fatalf("Check of a replaced, edited file = %v", err)
		}
		t.Logf("the refusal:\n%v", err)
	})
}

// The host form: `nginx -T -c main_config` must load the edited file.
func TestHostNginxEditsOnlyWhatItLoads(t *testing.T) {
	bin := testenv.NginxBinary(t)
	ctx := context.Background()
	a := newBackend(t, "A", nil, 0)
	b := newBackend(t, "B", nil, 0)
	h := startHostNginx(t, bin, a.addr(), b.addr())
	rt := HostRuntime(h.pidFile, bin, h.conf)
	waitWorkers(t, rt, 2)
	servers := []string{a.addr(), b.addr()}

	if err := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt}).Check(ctx, servers); err != nil {
		t.Fatal(err)
	}
	// Through a symlink to the loaded file: the same file.
	link := filepath.Join(t.TempDir(), "link.conf")
	if err := os.Symlink(h.conf, link); err != nil {
		t.Fatal(err)
	}
	if err := New(Options{ConfigPath: link, Upstream: "apps", Runtime: rt}).Check(ctx, servers); err != nil {
		t.Fatalf("a symlink to the loaded file: %v", err)
	}

	cp := copyTo(t, h.conf)
	workers := workerPIDs(t, rt)
	err := New(Options{ConfigPath: cp, Upstream: "apps", Runtime: rt}).Check(ctx, servers)
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Check of a copy = %v", err)
	}
	t.Logf("the refusal:\n%v", err)
	for _, want := range []string{"does not load " + cp, "nginx loads (nginx -T):\n    " + h.conf, `Fix: set the nginx block's config to "` + h.conf + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q", want)
		}
	}
	if got, _ := os.ReadFile(cp); !bytes.Equal(got, h.orig) {
		t.Fatalf("the copy changed:\n%s", got)
	}
	if got := workerPIDs(t, rt); !slices.Equal(got, workers) {
		t.Fatalf("nginx reloaded: workers %v -> %v", workers, got)
	}
}

// A reload the master refuses (here: a port that is taken, which
// `nginx -t` does not try to bind) is an error, and the edit is reverted:
// the old workers keep running the old membership.
func TestHostNginxReloadRefusedByTheMaster(t *testing.T) {
	bin := testenv.NginxBinary(t)
	ctx := context.Background()
	a := newBackend(t, "A", nil, 0)
	b := newBackend(t, "B", nil, 0)
	h := startHostNginx(t, bin, a.addr(), b.addr())
	rt := HostRuntime(h.pidFile, bin, h.conf)
	waitWorkers(t, rt, 2)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	conf := bytes.Replace(h.orig, []byte("    server {\n"), []byte("    server {\n        listen "+taken.Addr().String()+";\n"), 1)
	h.write(t, conf)
	t.Cleanup(func() { h.write(t, h.orig) })
	bal := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt, ReloadTimeout: time.Second, Log: testLogger(t)})
	if err := bal.Check(ctx, []string{a.addr()}); err != nil {
		t.Fatalf("nginx -T binds nothing, so the preflight passes: %v", err)
	}
	workers := workerPIDs(t, rt)
	_, err = bal.MarkDown(ctx, a.addr())
	if !errors.Is(err, ErrReloadUnconfirmed) {
		t.Fatalf("MarkDown with a reload the master refuses = %v", err)
	}
	t.Logf("the failure: %v", err)
	if got := h.read(t); !bytes.Equal(got, conf) {
		t.Fatalf("the edit was not reverted:\n%s", got)
	}
	if got := workerPIDs(t, rt); !slices.Equal(got, workers) {
		t.Fatalf("workers %v -> %v: the old generation should still serve", workers, got)
	}
	if seen := hits(t, h.url, 10); seen["A"] == 0 {
		t.Fatalf("A no longer gets requests: %v", seen)
	}
}
