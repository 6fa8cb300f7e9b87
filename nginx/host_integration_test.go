package nginx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// backend is an upstream server for integration tests: GET / answers its
// name, GET /slow announces itself on entered and answers after slow.
type backend struct {
	name    string
	srv     *httptest.Server
	entered chan string
	slow    time.Duration
}

func newBackend(t *testing.T, name string, entered chan string, slow time.Duration) *backend {
	t.Helper()
	b := &backend{name: name, entered: entered, slow: slow}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			b.entered <- name
			time.Sleep(b.slow)
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// addr is the backend's address as written in the upstream ("127.0.0.1:port").
func (b *backend) addr() string { return strings.TrimPrefix(b.srv.URL, "http://") }

// client never reuses connections: a keep-alive connection to an old worker
// can be closed under a request during a reload, which is nginx behaviour
// the drain tests are not about.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}

// hits sends n requests and counts the answers by body.
func hits(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		resp, err := httpClient.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		seen[string(body)]++
	}
	return seen
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostNginx is a real nginx started for one test.
type hostNginx struct {
	dir, conf, pidFile, url string
	orig                    []byte
}

// startHostNginx runs `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'` as a
// child of the test, with every path inside DIR and the given upstream
// servers, and stops it (SIGQUIT, then SIGKILL) when the test ends.
func startHostNginx(t *testing.T, bin string, servers ...string) *hostNginx {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var ups strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&ups, "        server %s;\n", s)
	}
	conf := fmt.Sprintf(`# nonstop integration test
worker_processes 2;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;

events {
    worker_connections 256;
}

http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;

    upstream apps {
%[2]s    }

    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://apps;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, ups.String(), port)
	h := &hostNginx{dir: dir, conf: filepath.Join(dir, "nginx.conf"), pidFile: filepath.Join(dir, "nginx.pid"),
		url: fmt.Sprintf("http://127.0.0.1:%d", port), orig: []byte(conf)}
	if err := os.WriteFile(h.conf, h.orig, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", h.conf, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(h.pidFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited at start:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h
}

func (h *hostNginx) read(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(h.conf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *hostNginx) write(t *testing.T, b []byte) {
	t.Helper()
	if err := os.WriteFile(h.conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// workerPIDs lists the live (not shutting down) workers: the generation
// that serves new requests. Another reload would replace them.
func workerPIDs(t *testing.T, rt Runtime) []int {
	t.Helper()
	procs, err := rt.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, children, ok := masterOf(procs)
	if !ok {
		t.Fatalf("no master in %+v", procs)
	}
	var pids []int
	for _, p := range children {
		if isWorker(p.Cmd) {
			pids = append(pids, p.PID)
		}
	}
	slices.Sort(pids)
	return pids
}

// waitWorkers waits until n workers have renamed themselves: right after
// fork a worker still carries the master's title.
func waitWorkers(t *testing.T, rt Runtime, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(workerPIDs(t, rt)) != n {
		if time.Now().After(deadline) {
			procs, _ := rt.Processes(context.Background())
			t.Fatalf("expected %d workers: %+v", n, procs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

func TestHostNginxIntegration(t *testing.T) {
	bin := testenv.NginxBinary(t)
	ctx := context.Background()
	entered := make(chan string, 4)
	a := newBackend(t, "A", entered, 2*time.Second)
	bb := newBackend(t, "B", entered, 2*time.Second)
	h := startHostNginx(t, bin, a.addr(), bb.addr())
	rt := HostRuntime(h.pidFile, bin, h.conf)
	bal := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt, Log: testLogger(t)})
	waitWorkers(t, rt, 2)

	// Runtime basics.
	procs, err := rt.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	master, children, ok := masterOf(procs)
	if !ok || !strings.HasPrefix(master.Cmd, "nginx: master process") || len(children) != 2 {
		t.Fatalf("processes %+v", procs)
	}
	for _, c := range children {
		if c.Cmd != "nginx: worker process" {
			t.Errorf("worker title %q", c.Cmd)
		}
	}
	if err := rt.Test(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Resolves(ctx, "localhost"); err != nil {
		t.Error(err)
	}
	if err := rt.Resolves(ctx, "nonstop-no-such-host.invalid"); err == nil || !strings.Contains(err.Error(), "nonstop-no-such-host.invalid") {
		t.Errorf("Resolves(invalid) = %v", err)
	}

	if err := bal.Check(ctx, []string{a.addr(), bb.addr()}); err != nil {
		t.Fatal(err)
	}
	if err := bal.Check(ctx, []string{"127.0.0.1:1", "127.0.0.1:2"}); err == nil || strings.Count(err.Error(), "no such server") != 2 {
		t.Fatalf("Check(unknown servers) = %v", err)
	}
	if seen := hits(t, h.url, 20); seen["A"] == 0 || seen["B"] == 0 {
		t.Fatalf("before: %v", seen)
	}

	t.Run("MarkDown drains in-flight requests", func(t *testing.T) {
		type result struct {
			status int
			body   string
			err    error
			at     time.Time
		}
		done := make(chan result, 1)
		go func() {
			resp, err := httpClient.Get(h.url + "/slow")
			if err != nil {
				done <- result{err: err, at: time.Now()}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{status: resp.StatusCode, body: string(body), at: time.Now()}
		}()
		var target, other *backend
		select {
		case name := <-entered:
			target, other = a, bb
			if name == "B" {
				target, other = bb, a
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow request never reached a backend")
		}
		start := time.Now()
		c, err := bal.MarkDown(ctx, target.addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("MarkDown (write + nginx -t + reload + new generation) took %s; old workers %v", time.Since(start), c.OldWorkers)
		want := bytes.Replace(h.orig, []byte("server "+target.addr()+";"), []byte("server "+target.addr()+" down;"), 1)
		if got := h.read(t); !bytes.Equal(got, want) {
			t.Fatalf("config after MarkDown:\n%s", got)
		}
		// The old generation is still there, renamed, holding the request.
		procs, _ := rt.Processes(ctx)
		var titles []string
		for _, p := range procs {
			if slices.Contains(c.OldWorkers, p.PID) {
				titles = append(titles, p.Cmd)
			}
		}
		t.Logf("old generation right after the reload: %q", titles)
		if len(titles) == 0 {
			t.Error("the old worker holding the slow request is already gone")
		}
		if seen := hits(t, h.url, 20); seen[target.name] != 0 || seen[other.name] != 20 {
			t.Fatalf("after MarkDown of %s: %v", target.name, seen)
		}
		rep, err := bal.WaitDrained(ctx, c, 30*time.Second)
		returned := time.Now()
		if err != nil || rep.TimedOut {
			t.Fatalf("WaitDrained = %+v, %v", rep, err)
		}
		// The old worker exits once it has sent the response; the client
		// goroutine may read it a moment later on a busy machine, so the
		// ordering is checked on nginx's side: no old worker is left when
		// WaitDrained returns, and the request was answered in full.
		for _, p := range mustProcesses(ctx, t, rt) {
			if slices.Contains(c.OldWorkers, p.PID) {
				t.Fatalf("WaitDrained returned at %s while old worker %d (%s) is still there", returned.Format(time.StampMilli), p.PID, p.Cmd)
			}
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the in-flight request never finished")
		}
		if r.err != nil || r.status != 200 || r.body != target.name {
			t.Fatalf("in-flight request: %+v", r)
		}
		if rep.Took < 1500*time.Millisecond {
			t.Fatalf("drain took %s, less than the in-flight request needed", rep.Took)
		}
		t.Logf("drain took %s", rep.Took)

		// Restore: both answer again, file byte-identical.
		rc, err := bal.Restore(ctx, target.addr())
		if err != nil {
			t.Fatal(err)
		}
		if !rc.PrevDown {
			t.Errorf("Restore change %+v", rc)
		}
		if got := h.read(t); !bytes.Equal(got, h.orig) {
			t.Fatalf("config after Restore:\n%s", got)
		}
		if seen := hits(t, h.url, 20); seen["A"] == 0 || seen["B"] == 0 {
			t.Fatalf("after Restore: %v", seen)
		}
	})

	t.Run("Undo from the journal", func(t *testing.T) {
		c, err := bal.MarkDown(ctx, a.addr())
		if err != nil {
			t.Fatal(err)
		}
		w, err := bal.SetWeight(ctx, bb.addr(), 3)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(c)
		var decoded Change
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		fresh := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: HostRuntime(h.pidFile, bin, h.conf)})
		if err := fresh.Undo(ctx, decoded); err != nil {
			t.Fatal(err)
		}
		if seen := hits(t, h.url, 20); seen["A"] == 0 || seen["B"] == 0 {
			t.Fatalf("after Undo: %v", seen)
		}
		if err := fresh.Undo(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got := h.read(t); !bytes.Equal(got, h.orig) {
			t.Fatalf("config after Undo:\n%s", got)
		}
	})

	t.Run("nginx -t failure restores the file", func(t *testing.T) {
		missing := filepath.Join(h.dir, "missing.conf")
		broken := bytes.Replace(h.orig, []byte("http {\n"), []byte("http {\n    include "+missing+";\n"), 1)
		h.write(t, broken)
		defer h.write(t, h.orig)
		waitWorkers(t, rt, 2)
		before := workerPIDs(t, rt)
		_, err := bal.MarkDown(ctx, a.addr())
		var te *TestError
		if err == nil || !errors.As(err, &te) {
			t.Fatalf("MarkDown on a broken config = %v", err)
		}
		for _, want := range []string{missing, "No such file", "restored"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		t.Logf("error: %v", err)
		if got := h.read(t); !bytes.Equal(got, broken) {
			t.Fatalf("config not restored:\n%s", got)
		}
		if after := workerPIDs(t, rt); !slices.Equal(before, after) {
			t.Fatalf("nginx reloaded: workers %v -> %v", before, after)
		}
	})

	t.Run("Restore refuses an unresolvable host", func(t *testing.T) {
		const ghost = "nonstop-no-such-host.invalid:80"
		withGhost := bytes.Replace(h.orig, []byte("    }\n\n    server {"), []byte("        server "+ghost+" down;\n    }\n\n    server {"), 1)
		if bytes.Equal(withGhost, h.orig) {
			t.Fatal("test setup: no insertion point")
		}
		h.write(t, withGhost)
		defer h.write(t, h.orig)
		// nginx resolves every upstream host at load time, `down` or not.
		if err := rt.Test(ctx); err == nil {
			t.Error("nginx -t accepted an unresolvable upstream host marked down")
		} else {
			t.Logf("nginx -t with an unresolvable host marked down: %v", err)
		}
		waitWorkers(t, rt, 2)
		before := workerPIDs(t, rt)
		_, err := bal.Restore(ctx, ghost)
		if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), "nonstop-no-such-host.invalid") {
			t.Fatalf("Restore = %v", err)
		}
		if got := h.read(t); !bytes.Equal(got, withGhost) {
			t.Fatalf("config written:\n%s", got)
		}
		if after := workerPIDs(t, rt); !slices.Equal(before, after) {
			t.Fatalf("nginx reloaded: workers %v -> %v", before, after)
		}
	})

	t.Run("parallel edits of one file", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		changes := make(chan Change, 2)
		shared := NewShared() // what serializes the two Balancers
		for _, s := range []string{a.addr(), bb.addr()} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt, Shared: shared}).SetWeight(ctx, s, 5)
				errs <- err
				changes <- c
			}()
		}
		wg.Wait()
		close(errs)
		close(changes)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := h.read(t); bytes.Count(got, []byte(" weight=5;")) != 2 {
			t.Fatalf("config:\n%s", got)
		}
		for c := range changes {
			if err := bal.Undo(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.read(t); !bytes.Equal(got, h.orig) {
			t.Fatalf("config after Undo:\n%s", got)
		}
	})
}

// mustProcesses lists the runtime's nginx processes, failing the test when
// it cannot.
func mustProcesses(ctx context.Context, t *testing.T, rt Runtime) []Process {
	t.Helper()
	procs, err := rt.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return procs
}
