// This file tests the reload-free backend (Dynamic) against a real nginx
// on this machine with Debian's lua-nginx-module and the shipped
// nonstop.lua: membership changes without a reload and without touching
// nginx.conf, drains that wait for the request in flight, a restart that
// keeps the membership, and the refusals (no snippet, no ack, the other
// backend's journal).
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/load"
)

// dynNginx is a real host nginx running the snippet for upstream "apps".
type dynNginx struct {
	bin, dir, conf, pidFile, url, state string
	orig                                []byte
	stop                                func()
}

// startDynamicNginx writes a config with the snippet (or without it, when
// snippet is false) and the given servers, installs nonstop.lua in the
// state folder (mode stateMode: 0o777 lets nginx's workers, user nobody,
// write their ack) and starts nginx.
func startDynamicNginx(t *testing.T, snippet bool, stateMode os.FileMode, servers ...string) *dynNginx {
	t.Helper()
	bin := luaNginx(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "nonstop")
	for _, d := range []string{filepath.Join(dir, "tmp"), state} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// nginx's workers (user nobody) read the module and write the ack.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(state, stateMode); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "nonstop.lua"), LuaModule, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var ups strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&ups, "        server %s;\n", s)
	}
	httpSnippet, upSnippet := "", ""
	if snippet {
		sn := Snippet(SnippetOptions{StateDir: state, Upstreams: []string{"apps"}})
		httpSnippet, upSnippet, _ = strings.Cut(sn, "\n# In upstream apps")
		_, upSnippet, _ = strings.Cut(upSnippet, "\n")
	}
	conf := fmt.Sprintf(`# nonstop reload-free integration test
load_module %[4]s;
load_module %[5]s;
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
%[6]s
    upstream apps {
%[2]s%[7]s
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://apps;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, ups.String(), port, luaModules[0], luaModules[1], httpSnippet, upSnippet)
	n := &dynNginx{bin: bin, dir: dir, conf: filepath.Join(dir, "nginx.conf"), pidFile: filepath.Join(dir, "nginx.pid"),
		url: fmt.Sprintf("http://127.0.0.1:%d", port), state: state, orig: []byte(conf)}
	if err := os.WriteFile(n.conf, n.orig, 0o644); err != nil {
		t.Fatal(err)
	}
	n.start(t, port)
	return n
}

// start runs nginx in the foreground as the test's child until stop.
func (n *dynNginx) start(t *testing.T, port int) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(n.bin, "-p", n.dir, "-c", n.conf, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(n.pidFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return
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
}

func (n *dynNginx) runtime() Runtime { return HostRuntime(n.pidFile, n.bin, n.conf) }

func (n *dynNginx) dynamic(o DynamicOptions) *Dynamic {
	o.ConfigPath, o.Upstream, o.Runtime = n.conf, "apps", n.runtime()
	return NewDynamic(o)
}

// assertUntouched fails when nginx.conf changed or nginx reloaded (its
// workers are not the ones given).
func (n *dynNginx) assertUntouched(t *testing.T, workers []int) {
	t.Helper()
	if b, err := os.ReadFile(n.conf); err != nil || !bytes.Equal(b, n.orig) {
		t.Fatalf("nginx.conf changed (err %v)", err)
	}
	if now := workerPIDs(t, n.runtime()); !slices.Equal(now, workers) {
		t.Fatalf("nginx workers changed from %v to %v: it reloaded", workers, now)
	}
}

func TestDynamicMembershipWithoutReload(t *testing.T) {
	entered := make(chan string, 16)
	a := newBackend(t, "a", entered, 0)
	b := newBackend(t, "b", entered, 0)
	n := startDynamicNginx(t, true, 0o777, a.addr(), b.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	if err := d.Check(ctx, []string{a.addr(), b.addr()}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	waitWorkers(t, n.runtime(), 2)
	workers := workerPIDs(t, n.runtime())

	// Before any change nginx balances over the server lines itself.
	if seen := hits(t, n.url, 20); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("before any change, want both servers, got %v", seen)
	}
	down, err := d.MarkDown(ctx, a.addr())
	if err != nil || down.Noop || down.Backend != BackendDynamic {
		t.Fatalf("MarkDown: %+v, %v", down, err)
	}
	if seen := hits(t, n.url, 20); seen["a"] != 0 || seen["b"] != 20 {
		t.Fatalf("with a down, want only b, got %v", seen)
	}
	if ms, err := d.Members(ctx); err != nil || len(ms) != 2 || !ms[0].Down || ms[1].Down {
		t.Fatalf("Members: %+v, %v", ms, err)
	}
	if again, err := d.MarkDown(ctx, a.addr()); err != nil || !again.Noop {
		t.Fatalf("second MarkDown: want a Noop, got %+v, %v", again, err)
	}
	if _, err := d.SetWeight(ctx, b.addr(), 3); err != nil {
		t.Fatal(err)
	}
	if err := d.Undo(ctx, down); err != nil {
		t.Fatalf("Undo: %v", err)
	}
	// Each of the two workers keeps its own round robin: about 10/30.
	if seen := hits(t, n.url, 40); seen["a"] == 0 || seen["b"] < 2*seen["a"] {
		t.Fatalf("a back with weight 1, b weight 3: want about 10/30 of 40, got %v", seen)
	}
	// Every server down: 502, as nginx answers with no live upstream.
	all, err := d.ChangeMany(ctx, []Change{{Op: OpMarkDown, Server: a.addr()}, {Op: OpMarkDown, Server: b.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := httpClient.Get(n.url); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("with every server down: want 502, got %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := d.UndoMany(ctx, all); err != nil {
		t.Fatal(err)
	}
	if seen := hits(t, n.url, 8); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("after UndoMany, want both servers again, got %v", seen)
	}
	n.assertUntouched(t, workers)

	// The other backend's journal is refused, both ways.
	if err := d.Undo(ctx, Change{Backend: BackendReload, Upstream: "apps", Server: a.addr(), Op: OpMarkDown}); err == nil || !strings.Contains(err.Error(), `"reload" backend`) {
		t.Fatalf("Undo of a reload change: want a refusal, got %v", err)
	}
	bal := New(Options{ConfigPath: n.conf, Upstream: "apps", Runtime: n.runtime()})
	if err := bal.Undo(ctx, down); err == nil || !strings.Contains(err.Error(), `"dynamic" backend`) {
		t.Fatalf("reload backend undoing a dynamic change: want a refusal, got %v", err)
	}
}

// TestDynamicDrainWaitsForInFlight: WaitDrained returns only once the
// request the server was answering is done, and at the timeout reports the
// count still in flight.
func TestDynamicDrainWaitsForInFlight(t *testing.T) {
	entered := make(chan string, 16)
	b := newBackend(t, "b", entered, 0)
	var finished atomic.Int32
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- "slow"
		time.Sleep(time.Second)
		finished.Add(1)
		fmt.Fprint(w, "slow")
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = slow.Serve(l) }()
	t.Cleanup(func() { _ = slow.Close() })
	s := l.Addr().String()
	n := startDynamicNginx(t, true, 0o777, s, b.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})

	for round, timeout := range []time.Duration{30 * time.Second, 100 * time.Millisecond} {
		// Only the slow server in rotation, so the request goes there.
		if _, err := d.ChangeMany(ctx, []Change{{Op: OpRestore, Server: s}, {Op: OpMarkDown, Server: b.addr()}}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			resp, err := httpClient.Get(n.url + "/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			done <- err
		}()
		<-entered
		cs, err := d.ChangeMany(ctx, []Change{{Op: OpRestore, Server: b.addr()}, {Op: OpMarkDown, Server: s}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := d.WaitDrained(ctx, cs[1], timeout)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if rep.TimedOut || finished.Load() != 1 {
				t.Fatalf("drain returned (%+v) while the slow request was still being answered", rep)
			}
		} else if !rep.TimedOut || rep.InFlight != 1 {
			t.Fatalf("drain with a short timeout: want a timeout with 1 request in flight, got %+v", rep)
		}
		if err := <-done; err != nil {
			t.Fatalf("the request in flight during the drain failed: %v", err)
		}
	}
}

// TestDynamicDrainBeforeFirstState: a request nginx placed before the
// first state file (its own round robin, peer unknown to the Lua side) is
// waited for by the first drain, whichever server it went to.
func TestDynamicDrainBeforeFirstState(t *testing.T) {
	entered := make(chan string, 4)
	var finished atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- "slow"
		time.Sleep(time.Second)
		finished.Add(1)
		fmt.Fprint(w, "slow")
	})
	var addrs []string
	for range 2 {
		srv := &http.Server{Handler: h}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
		addrs = append(addrs, l.Addr().String())
	}
	n := startDynamicNginx(t, true, 0o777, addrs...)
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	done := make(chan error, 1)
	go func() {
		resp, err := httpClient.Get(n.url + "/")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	c, err := d.MarkDown(ctx, addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.WaitDrained(ctx, c, 30*time.Second)
	if err != nil || rep.TimedOut || finished.Load() != 1 {
		t.Fatalf("drain returned (%+v, %v) before the request placed without state was done", rep, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDynamicUnderKeepAliveLoad: membership changes back and forth under
// keep-alive POST load lose no request (0 non-2xx, 0 transport errors),
// and nginx neither reloads nor sees its config change.
func TestDynamicUnderKeepAliveLoad(t *testing.T) {
	entered := make(chan string, 16)
	a := newBackend(t, "a", entered, 0)
	b := newBackend(t, "b", entered, 0)
	n := startDynamicNginx(t, true, 0o777, a.addr(), b.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	waitWorkers(t, n.runtime(), 2)
	workers := workerPIDs(t, n.runtime())
	o := load.NewOptions(n.url + "/")
	o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("payload"), 8, time.Minute
	run, err := load.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		out, in := a.addr(), b.addr()
		if i%2 == 1 {
			out, in = in, out
		}
		cs, err := d.ChangeMany(ctx, []Change{{Op: OpRestore, Server: in}, {Op: OpMarkDown, Server: out}})
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := d.WaitDrained(ctx, cs[1], 10*time.Second); err != nil || rep.TimedOut {
			t.Fatalf("drain %d: %+v, %v", i, rep, err)
		}
	}
	rep := run.Stop()
	if rep.Requests < 100 || rep.Non2xx != 0 || rep.TransportErrors != 0 {
		t.Fatalf("under load: %d requests, %d non-2xx, %d transport errors (%s)", rep.Requests, rep.Non2xx, rep.TransportErrors, rep.Kinds())
	}
	t.Logf("%d keep-alive POSTs, 0 failed, over 10 membership changes", rep.Requests)
	n.assertUntouched(t, workers)
}

// TestDynamicRestartKeepsMembership: a restarted nginx starts from the
// last membership written, not from the server lines.
func TestDynamicRestartKeepsMembership(t *testing.T) {
	entered := make(chan string, 16)
	a := newBackend(t, "a", entered, 0)
	b := newBackend(t, "b", entered, 0)
	n := startDynamicNginx(t, true, 0o777, a.addr(), b.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	if _, err := d.MarkDown(ctx, a.addr()); err != nil {
		t.Fatal(err)
	}
	n.stop()
	port := strings.TrimPrefix(n.url, "http://127.0.0.1:")
	var p int
	fmt.Sscan(port, &p)
	n.start(t, p)
	if seen := hits(t, n.url, 20); seen["a"] != 0 {
		t.Fatalf("after a restart, a (down) got requests: %v", seen)
	}
	if _, err := d.Restore(ctx, a.addr()); err != nil {
		t.Fatalf("Restore after the restart: %v", err)
	}
	if seen := hits(t, n.url, 20); seen["a"] == 0 {
		t.Fatalf("after Restore, a got nothing: %v", seen)
	}
}

// TestDynamicRefusals: a config without the snippet is refused with the
// fix, and a change nginx does not acknowledge is undone.
func TestDynamicRefusals(t *testing.T) {
	entered := make(chan string, 16)
	a := newBackend(t, "a", entered, 0)
	b := newBackend(t, "b", entered, 0)
	plain := startDynamicNginx(t, false, 0o777, a.addr(), b.addr())
	ctx := context.Background()
	err := plain.dynamic(DynamicOptions{}).Check(ctx, []string{a.addr()})
	if err == nil || !strings.Contains(err.Error(), "plan nginx-snippet -upstream apps") || !strings.Contains(err.Error(), "balancer_by_lua_block") {
		t.Fatalf("Check without the snippet: want a refusal naming the fix, got %v", err)
	}

	// The snippet, but a state folder nginx's workers cannot write.
	ro := startDynamicNginx(t, true, 0o755, a.addr(), b.addr())
	err = ro.dynamic(DynamicOptions{}).Check(ctx, []string{a.addr()})
	if err == nil || !strings.Contains(err.Error(), "no ack from nginx") || !strings.Contains(err.Error(), "writable by nginx's worker user") {
		t.Fatalf("Check with an unwritable state folder: want a refusal naming the fix, got %v", err)
	}

	n := startDynamicNginx(t, true, 0o777, a.addr(), b.addr())
	d := n.dynamic(DynamicOptions{AckTimeout: 300 * time.Millisecond})
	if err := d.Check(ctx, []string{a.addr(), "nope:80"}); err == nil || !strings.Contains(err.Error(), `"nope:80"`) {
		t.Fatalf("Check of an unknown server: got %v", err)
	}
	if _, err := d.MarkDown(ctx, b.addr()); err != nil {
		t.Fatal(err)
	}
	n.stop()
	if _, err := d.MarkDown(ctx, a.addr()); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("MarkDown with nginx stopped: want ErrNotApplied, got %v", err)
	}
	st, err := d.readState(ctx, statePath(n.state, "apps"))
	if err != nil || st.peer(a.addr()).Down || !st.peer(b.addr()).Down {
		t.Fatalf("after the unacknowledged change, want the previous membership (b down, a up), got %+v, %v", st, err)
	}
}
