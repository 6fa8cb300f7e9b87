package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestParseLdd(t *testing.T) {
	out := []byte(`	linux-vdso.so.1 (0x00007ffd1e5f5000)
	libcrypt.so.1 => /lib/x86_64-linux-gnu/libcrypt.so.1 (0x00007f6d3a5e9000)
	libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f6d3a487000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f6d3a2a6000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f6d3a78c000)
`)
	got, err := parseLdd(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libcrypt.so.1", "/lib/x86_64-linux-gnu/libz.so.1",
		"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := parseLdd([]byte("\tlibfoo.so.1 => not found\n")); err == nil {
		t.Fatal("a missing library must be an error")
	}
}

func TestContextTarIsDeterministic(t *testing.T) {
	es := []entry{file("b", 0o644, []byte("x")), dir("a", 0o755), symlink("c", "/b")}
	t1, err := contextTar(es)
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := contextTar([]entry{es[2], es[0], es[1]})
	if !bytes.Equal(t1, t2) {
		t.Fatal("same entries in another order give other bytes")
	}
	tr := tar.NewReader(bytes.NewReader(t1))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "a/,b,c" {
		t.Fatalf("names %v", names)
	}
	if _, err := contextTar([]entry{es[0], es[0]}); err == nil {
		t.Fatal("a duplicate entry must be an error")
	}
}

// run starts image with port (e.g. "3000/tcp") published on 127.0.0.1 and
// returns the base URL; the container is removed in t.Cleanup.
func run(t *testing.T, cli client.APIClient, image, port string, env ...string) (id, url string) {
	t.Helper()
	ctx := context.Background()
	p := nat.Port(port)
	c, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, Env: env, ExposedPorts: nat.PortSet{p: {}},
			Labels: map[string]string{"nonstop.test": "testimage"}},
		&container.HostConfig{PortBindings: nat.PortMap{p: {{HostIP: "127.0.0.1"}}}},
		nil, nil, testenv.UniqueName("nonstop-testimage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", image, logs(cli, c.ID))
		}
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := ins.NetworkSettings.Ports[p]
	if len(b) == 0 {
		t.Fatalf("%s not published: %+v", p, ins.NetworkSettings.Ports)
	}
	return c.ID, "http://127.0.0.1:" + b[0].HostPort
}

func logs(cli client.APIClient, id string) string {
	r, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	var b bytes.Buffer
	_, _ = stdcopy.StdCopy(&b, &b, r)
	return b.String()
}

// get retries until url answers or 15s pass.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				return resp.StatusCode, string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAppImage(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()

	// Concurrent callers share one build.
	start := time.Now()
	refs := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Add(1)
		go func() { defer wg.Done(); refs[i], errs[i] = App(ctx, cli) }()
	}
	wg.Wait()
	for i := range refs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if refs[i] != refs[0] {
			t.Fatalf("concurrent App calls gave %v", refs)
		}
	}
	t.Logf("App() = %s in %s", refs[0], time.Since(start).Round(time.Millisecond))
	if !strings.HasPrefix(refs[0], "nonstop-testapp:") || len(refs[0]) != len("nonstop-testapp:")+12 {
		t.Fatalf("tag %q", refs[0])
	}
	start = time.Now()
	if ref, err := App(ctx, cli); err != nil || ref != refs[0] {
		t.Fatalf("second App: %s, %v", ref, err)
	}
	t.Logf("cached App() in %s", time.Since(start).Round(time.Millisecond))

	ins, err := cli.ImageInspect(ctx, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ins.Config.ExposedPorts["3000/tcp"]; !ok || ins.Config.Entrypoint[0] != "/testapp" {
		t.Fatalf("image config: %+v", ins.Config)
	}

	_, url := run(t, cli, refs[0], "3000/tcp", "MESSAGE=app1,v1")
	if code, body := get(t, url+"/"); code != 200 || body != "Hi there, I love ! app1,v1" {
		t.Fatalf("GET /: %d %q", code, body)
	}
	_, url = run(t, cli, refs[0], "3000/tcp", "MESSAGE=x", "FAIL=1")
	if code, _ := get(t, url+"/healthz"); code != 500 {
		t.Fatalf("GET /healthz under FAIL=1: %d", code)
	}
}

func TestAppImageStopsGracefully(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()
	ref, err := App(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	id, url := run(t, cli, ref, "3000/tcp", "MESSAGE=m")
	get(t, url+"/")
	type res struct {
		body string
		err  error
	}
	got := make(chan res, 1)
	go func() {
		resp, err := http.Get(url + "/?sleep=1s")
		if err != nil {
			got <- res{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- res{string(b), err}
	}()
	time.Sleep(300 * time.Millisecond)
	timeout := 10
	start := time.Now()
	if err := cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.body != "Hi there, I love ! m" {
		t.Fatalf("request in flight at docker stop: %q %v", r.body, r.err)
	}
	ins, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ins.State.ExitCode != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("exit code %d after %s, want 0 soon after the in-flight request", ins.State.ExitCode, time.Since(start))
	}
}

func TestNginxImage(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	ctx := context.Background()
	start := time.Now()
	ref, err := Nginx(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Nginx() = %s in %s", ref, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if again, err := Nginx(ctx, cli); err != nil || again != ref {
		t.Fatalf("second Nginx: %s, %v", again, err)
	}
	t.Logf("cached Nginx() in %s", time.Since(start).Round(time.Millisecond))

	ins, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Config.StopSignal != "SIGQUIT" || strings.Join(ins.Config.Cmd, " ") != "nginx -g daemon off;" {
		t.Fatalf("image config: %+v", ins.Config)
	}

	// The image's default config uses `user nginx;`, the seed's paths and mime.types.
	_, url := run(t, cli, ref, "80/tcp")
	if code, body := get(t, url+"/"); code != 200 || body != "nonstop-nginx\n" {
		t.Fatalf("GET /: %d %q", code, body)
	}
}
