package nginx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

func containerTop(titles []string, procs [][]string) container.TopResponse {
	return container.TopResponse{Titles: titles, Processes: procs}
}

// fakeRuntime simulates an nginx master with one worker per generation: a
// reload turns the live worker into an old one ("is shutting down") and
// starts a new one; drain() lets the old ones exit.
type fakeRuntime struct {
	mu        sync.Mutex
	name      string
	next      int
	live      int
	old       []int
	reloads   int
	tests     int
	testErr   func(cfg []byte) error // nil: pass
	path      string                 // config the "nginx" reads in Test
	resolves  map[string]bool
	noNewGen  bool // reloads are signalled but nginx keeps the old workers
	inTest    int  // concurrent Test calls, to catch missing serialization
	maxInTest int
	// loads is the file the "nginx" loads (default path); stale, when not
	// nil, is what it reads there instead of the file's bytes (a bind
	// mount of a replaced file); staleAfter counts the Seen calls that
	// still see the real bytes before stale applies.
	loads      string
	stale      []byte
	staleAfter int
}

func newFake(path string) *fakeRuntime {
	return &fakeRuntime{name: "fake " + path, next: 101, live: 100, path: path, resolves: map[string]bool{}}
}

func (f *fakeRuntime) String() string { return f.name }

func (f *fakeRuntime) Test(ctx context.Context) error {
	f.mu.Lock()
	f.tests++
	f.inTest++
	f.maxInTest = max(f.maxInTest, f.inTest)
	fn := f.testErr
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inTest--; f.mu.Unlock() }()
	time.Sleep(2 * time.Millisecond) // widen the window for races
	cfg, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	if _, err := ParseConfig(f.path, cfg); err != nil {
		return &TestError{Output: "nginx: [emerg] " + err.Error()}
	}
	if fn != nil {
		return fn(cfg)
	}
	return nil
}

// Dump is Test, then the one file the fake loads.
func (f *fakeRuntime) Dump(ctx context.Context) (*Loaded, error) {
	if err := f.Test(ctx); err != nil {
		return nil, err
	}
	name, data, err := f.Seen(ctx, f.loadsPath())
	if err != nil {
		return nil, err
	}
	return &Loaded{Files: []LoadedFile{{Name: name, Host: name, Data: data}}}, nil
}

func (f *fakeRuntime) loadsPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loads != "" {
		return f.loads
	}
	return f.path
}

func (f *fakeRuntime) Seen(ctx context.Context, path string) (string, []byte, error) {
	f.mu.Lock()
	stale := f.stale
	if f.staleAfter > 0 {
		f.staleAfter--
		stale = nil
	}
	f.mu.Unlock()
	if stale != nil {
		return path, stale, nil
	}
	b, err := os.ReadFile(path)
	return path, b, err
}

func (f *fakeRuntime) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	if f.noNewGen {
		return nil
	}
	f.old = append(f.old, f.live)
	f.live = f.next
	f.next++
	return nil
}

func (f *fakeRuntime) Processes(ctx context.Context) ([]Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := []Process{{PID: 1, PPID: 0, Cmd: "nginx: master process nginx"}, {PID: f.live, PPID: 1, Cmd: "nginx: worker process"}}
	for _, p := range f.old {
		ps = append(ps, Process{PID: p, PPID: 1, Cmd: "nginx: worker process is shutting down"})
	}
	return ps, nil
}

func (f *fakeRuntime) Resolves(ctx context.Context, host string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolves[host] {
		return nil
	}
	return fmt.Errorf("host %q does not resolve in %s", host, f)
}

func (f *fakeRuntime) drain() {
	f.mu.Lock()
	f.old = nil
	f.mu.Unlock()
}

const testConf = "events {}\nhttp {\n    upstream apps {\n        server app1:3000;\n        server app2:3000 weight=2;\n    }\n}\n"

func setup(t *testing.T, conf string, inPlace bool) (*Balancer, *fakeRuntime, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	rt := newFake(path)
	rt.resolves["app1"], rt.resolves["app2"] = true, true
	b := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt, WriteInPlace: inPlace, ReloadTimeout: 500 * time.Millisecond})
	return b, rt, path
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBalancerMarkDownRestoreUndo(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("inPlace=%t", inPlace), func(t *testing.T) {
			ctx := context.Background()
			b, rt, path := setup(t, testConf, inPlace)
			if err := b.Check(ctx, []string{"app1:3000", "app2:3000"}); err != nil {
				t.Fatal(err)
			}
			c, err := b.MarkDown(ctx, "app2:3000")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(testConf, "app2:3000 weight=2;", "app2:3000 weight=2 down;", 1)
			if got := readFile(t, path); got != want {
				t.Fatalf("after MarkDown:\n%s", got)
			}
			if c.Noop || c.Op != OpMarkDown || c.PrevDown || c.PrevWeight != 2 || len(c.OldWorkers) != 1 || c.OldWorkers[0] != 100 || c.ReloadedAt.IsZero() {
				t.Fatalf("change %+v", c)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode changed to %v", fi.Mode())
			}
			// Draining: times out while the old worker lives, then completes.
			rep, err := b.WaitDrained(ctx, c, 120*time.Millisecond)
			if err != nil || !rep.TimedOut || len(rep.Remaining) != 1 || rep.Remaining[0].PID != 100 {
				t.Fatalf("WaitDrained with a live old worker = %+v, %v", rep, err)
			}
			time.AfterFunc(100*time.Millisecond, rt.drain)
			rep, err = b.WaitDrained(ctx, c, 5*time.Second)
			if err != nil || rep.TimedOut || rep.Took < 100*time.Millisecond {
				t.Fatalf("WaitDrained = %+v, %v", rep, err)
			}
			// Second MarkDown is a noop: no write, no reload.
			reloads := rt.reloads
			c2, err := b.MarkDown(ctx, "app2:3000")
			if err != nil || !c2.Noop || rt.reloads != reloads {
				t.Fatalf("second MarkDown = %+v, %v (reloads %d->%d)", c2, err, reloads, rt.reloads)
			}
			if rep, err := b.WaitDrained(ctx, c2, time.Second); err != nil || rep.Took != 0 {
				t.Fatalf("WaitDrained(noop) = %+v, %v", rep, err)
			}
			if err := b.Undo(ctx, c2); err != nil || rt.reloads != reloads {
				t.Fatalf("Undo(noop) = %v", err)
			}
			// Undo from a journal round trip, in a "new process" (new Balancer).
			raw, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var decoded Change
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatal(err)
			}
			b2 := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt, WriteInPlace: inPlace})
			if err := b2.Undo(ctx, decoded); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != testConf {
				t.Fatalf("after Undo:\n%s", got)
			}
			// Undoing twice changes nothing.
			reloads = rt.reloads
			if err := b2.Undo(ctx, decoded); err != nil || rt.reloads != reloads {
				t.Fatalf("second Undo = %v, reloads %d->%d", err, reloads, rt.reloads)
			}
			// Restore of a server that is not down is a noop; Restore after
			// MarkDown gives back the original bytes.
			if c, err := b.Restore(ctx, "app1:3000"); err != nil || !c.Noop {
				t.Fatalf("Restore(up) = %+v, %v", c, err)
			}
			if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
				t.Fatal(err)
			}
			rc, err := b.Restore(ctx, "app1:3000")
			if err != nil || !rc.PrevDown {
				t.Fatalf("Restore = %+v, %v", rc, err)
			}
			if got := readFile(t, path); got != testConf {
				t.Fatalf("after Restore:\n%s", got)
			}
			// Undo of the Restore marks it down again.
			if err := b.Undo(ctx, rc); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); !strings.Contains(got, "server app1:3000 down;") {
				t.Fatalf("after Undo(Restore):\n%s", got)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("temp files left behind: %v", entries)
			}
		})
	}
}

func TestBalancerUndoAfterOtherEdits(t *testing.T) {
	ctx := context.Background()
	conf := "upstream apps {\n  server app1:3000;\n  server app2:3000\n     down;\n}\n"
	b, _, path := setup(t, conf, false)
	// Restore removes a hand-written `down` on its own line.
	c, err := b.Restore(ctx, "app2:3000")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "upstream apps {\n  server app1:3000;\n  server app2:3000\n     ;\n}\n" {
		t.Fatalf("after Restore: %q", got)
	}
	// Another step edits another line meanwhile.
	if _, err := b.SetWeight(ctx, "app1:3000", 4); err != nil {
		t.Fatal(err)
	}
	// Undo restores this line byte for byte and keeps the other edit.
	if err := b.Undo(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "upstream apps {\n  server app1:3000 weight=4;\n  server app2:3000\n     down;\n}\n" {
		t.Fatalf("after Undo: %q", got)
	}
	// If the line itself was changed meanwhile, Undo falls back to the
	// semantic inverse (previous weight).
	wc, err := b.SetWeight(ctx, "app2:3000", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(ctx, "app2:3000"); err != nil {
		t.Fatal(err)
	}
	if err := b.Undo(ctx, wc); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "upstream apps {\n  server app1:3000 weight=4;\n  server app2:3000\n     ;\n}\n" {
		t.Fatalf("after semantic Undo: %q", got)
	}
}

func TestBalancerUndoRejectsTamperedJournal(t *testing.T) {
	ctx := context.Background()
	b, _, path := setup(t, testConf, false)
	c, err := b.MarkDown(ctx, "app1:3000")
	if err != nil {
		t.Fatal(err)
	}
	c.Before = "server app1:3000; include /etc/passwd;"
	if err := b.Undo(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	if got != testConf || strings.Contains(got, "passwd") {
		t.Fatalf("after Undo with a tampered Before:\n%s", got)
	}
	for _, bad := range []Change{
		{Upstream: "apps", Server: "app1:3000", Op: "explode"},
		{Upstream: "other", Server: "app1:3000", Op: OpMarkDown},
		{Upstream: "apps", Server: "app1:3000", Op: OpMarkDown, Config: "/elsewhere/nginx.conf"},
		{Backend: "lua", Upstream: "apps", Server: "app1:3000", Op: OpMarkDown},
	} {
		if err := b.Undo(ctx, bad); err == nil {
			t.Errorf("Undo(%+v) succeeded", bad)
		}
	}
}

func TestBalancerTestFailureRestores(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, true)
	rt.testErr = func(cfg []byte) error {
		if bytes.Contains(cfg, []byte("down")) {
			return &TestError{Output: "nginx: [emerg] host not found in upstream \"app2:3000\" in /etc/nginx/nginx.conf:5\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"}
		}
		return nil
	}
	reloads := rt.reloads
	_, err := b.MarkDown(ctx, "app2:3000")
	if err == nil {
		t.Fatal("MarkDown succeeded")
	}
	var te *TestError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `host not found in upstream "app2:3000"`) || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("error %q", err)
	}
	if got := readFile(t, path); got != testConf {
		t.Fatalf("file not restored:\n%s", got)
	}
	if rt.reloads != reloads {
		t.Fatal("reloaded a rejected config")
	}
}

func TestBalancerReloadNotConfirmed(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, false)
	rt.noNewGen = true
	start := time.Now()
	_, err := b.MarkDown(ctx, "app1:3000")
	if !errors.Is(err, ErrReloadUnconfirmed) || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("took %s with a 500ms ReloadTimeout", d)
	}
	if got := readFile(t, path); got != testConf {
		t.Fatalf("file not restored:\n%s", got)
	}
	if rt.reloads != 2 {
		t.Fatalf("%d reloads, want the change and the restore", rt.reloads)
	}
}

func TestBalancerRestoreRefusesUnresolvable(t *testing.T) {
	ctx := context.Background()
	conf := "upstream apps { server app1:3000; server gone:3000 down; server 10.0.0.9:80 down; }"
	b, rt, path := setup(t, conf, false)
	_, err := b.Restore(ctx, "gone:3000")
	if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("error %v", err)
	}
	if got := readFile(t, path); got != conf || rt.reloads != 0 || rt.tests != 0 {
		t.Fatalf("something happened: reloads %d tests %d\n%s", rt.reloads, rt.tests, got)
	}
	// An IP literal needs no resolution.
	if _, err := b.Restore(ctx, "10.0.0.9:80"); err != nil {
		t.Fatal(err)
	}
	// Undo of a MarkDown checks resolution too.
	c, err := b.MarkDown(ctx, "app1:3000")
	if err != nil {
		t.Fatal(err)
	}
	rt.resolves["app1"] = false
	if err := b.Undo(ctx, c); !errors.Is(err, ErrUnresolvable) {
		t.Fatalf("Undo = %v", err)
	}
}

func TestBalancerCheckReportsEverything(t *testing.T) {
	ctx := context.Background()
	b, rt, _ := setup(t, testConf, false)
	rt.testErr = func([]byte) error { return &TestError{Output: "nginx: [emerg] boom"} }
	err := b.Check(ctx, []string{"app1:3000", "app3:3000", "db:5432", "bad;name"})
	if err == nil {
		t.Fatal("Check passed")
	}
	for _, want := range []string{`"app3:3000"`, `"db:5432"`, "invalid name", "boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, ErrNoServer) {
		t.Error("not ErrNoServer")
	}
	missing := New(Options{ConfigPath: filepath.Join(t.TempDir(), "none.conf"), Upstream: "apps", Runtime: rt})
	if err := missing.Check(ctx, nil); err == nil || !strings.Contains(err.Error(), "none.conf") {
		t.Errorf("Check(missing file) = %v", err)
	}
	if err := New(Options{}).Check(ctx, nil); err == nil {
		t.Error("Check with no options passed")
	}
	if rt.reloads != 0 {
		t.Error("Check reloaded")
	}
}

// Steps run in parallel: edits of different lines of one file must all land,
// and nginx -t / reload must never interleave.
func TestBalancerConcurrentEdits(t *testing.T) {
	ctx := context.Background()
	var conf strings.Builder
	conf.WriteString("upstream apps {\n")
	for i := range 12 {
		fmt.Fprintf(&conf, "    server app%d:3000;\n", i)
	}
	conf.WriteString("}\n")
	b, rt, path := setup(t, conf.String(), true)
	shared := NewShared()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A separate Balancer per goroutine: the locks are in the
			// Shared they are all given.
			bb := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt, WriteInPlace: true, Shared: shared})
			_, err := bb.MarkDown(ctx, fmt.Sprintf("app%d:3000", i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := readFile(t, path)
	if n := strings.Count(got, " down;"); n != 12 {
		t.Fatalf("%d servers down:\n%s", n, got)
	}
	if rt.maxInTest != 1 {
		t.Fatalf("%d concurrent nginx -t", rt.maxInTest)
	}
	_ = b
}

func TestWaitDrainedContextCancel(t *testing.T) {
	b, _, _ := setup(t, testConf, false)
	c, err := b.MarkDown(context.Background(), "app1:3000")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rep, err := b.WaitDrained(ctx, c, 0)
	if !errors.Is(err, context.DeadlineExceeded) || len(rep.Remaining) == 0 {
		t.Fatalf("WaitDrained = %+v, %v", rep, err)
	}
}

func TestChangeJSON(t *testing.T) {
	c := Change{Backend: BackendReload, Upstream: "apps", Server: "app2:3000", Op: OpMarkDown, OldWorkers: []int{7, 8},
		ReloadedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Config: "/x/nginx.conf",
		Before: "server app2:3000;", After: "server app2:3000 down;"}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"backend":"reload","upstream":"apps","server":"app2:3000","op":"mark_down","prev_down":false,"prev_weight":0,"old_workers":[7,8],"reloaded_at":"2026-01-02T03:04:05Z","config":"/x/nginx.conf","before":"server app2:3000;","after":"server app2:3000 down;"}`
	if string(raw) != want {
		t.Fatalf("JSON:\n%s", raw)
	}
	noop, _ := json.Marshal(Change{Upstream: "apps", Server: "a:1", Op: OpRestore, Noop: true})
	if string(noop) != `{"upstream":"apps","server":"a:1","op":"restore","prev_down":false,"prev_weight":0,"noop":true}` {
		t.Fatalf("noop JSON: %s", noop)
	}
}

func TestParseTop(t *testing.T) {
	top := struct {
		Titles    []string
		Processes [][]string
	}{
		Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
		Processes: [][]string{
			{"root", "4242", "4200", "0", "06:00", "?", "00:00:00", "nginx: master process nginx -g daemon off;"},
			{"101", "4250", "4242", "0", "06:00", "?", "00:00:00", "nginx: worker process"},
			{"101", "4251", "4242", "0", "06:00", "?", "00:00:00", "nginx: worker process is shutting down"},
			{"root", "4300", "4201", "0", "06:01", "?", "00:00:00", "nginx -t -q"},
			{"garbage"},
		},
	}
	procs, err := parseTop(containerTop(top.Titles, top.Processes))
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 4 || procs[0].PID != 4242 || procs[2].Cmd != "nginx: worker process is shutting down" || procs[1].PPID != 4242 {
		t.Fatalf("%+v", procs)
	}
	m, children, ok := masterOf(procs[:3])
	if !ok || m.PID != 4242 || len(children) != 2 {
		t.Fatalf("masterOf = %+v %+v %v", m, children, ok)
	}
	if _, err := parseTop(containerTop([]string{"PID", "CMD"}, nil)); err == nil {
		t.Error("missing PPID column accepted")
	}
	// busybox-style titles
	procs, err = parseTop(containerTop([]string{"PID", "USER", "TIME", "PPID", "COMMAND"}, [][]string{{"1", "root", "0:00", "0", "nginx: master process"}}))
	if err != nil || len(procs) != 1 || procs[0].Cmd != "nginx: master process" {
		t.Fatalf("%+v %v", procs, err)
	}
}

// A restore writes back bytes the preflight's `nginx -t` accepted: they
// are not tested again. If nginx nevertheless refuses them at reload (an
// included file changed meanwhile), the missing new generation is caught
// and the edit reverted, as for any failed reload.
func TestBalancerSkipsRetestOfPassedConfig(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, false)
	rt.drain()
	if err := b.Check(ctx, []string{"app1:3000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	if rt.tests != 2 {
		t.Fatalf("%d nginx -t after Check and MarkDown, want 2", rt.tests)
	}
	downConf := readFile(t, path)
	if _, err := b.Restore(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	if rt.tests != 2 || rt.reloads != 2 || readFile(t, path) != testConf {
		t.Fatalf("restore to the checked bytes: %d tests (want 2), %d reloads (want 2)", rt.tests, rt.reloads)
	}
	// New bytes are tested.
	if _, err := b.SetWeight(ctx, "app1:3000", 3); err != nil {
		t.Fatal(err)
	}
	if rt.tests != 3 {
		t.Fatalf("%d nginx -t after a weight change, want 3", rt.tests)
	}
	// Back to the marked-down bytes (tested), but nginx keeps its old
	// workers: the reload is not confirmed and the edit is undone.
	if _, err := b.SetWeight(ctx, "app1:3000", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != downConf || rt.tests != 3 {
		t.Fatalf("%d tests; config:\n%s", rt.tests, got)
	}
	rt.noNewGen = true
	before := readFile(t, path)
	if _, err := b.Restore(ctx, "app1:3000"); !errors.Is(err, ErrReloadUnconfirmed) {
		t.Fatalf("restore with nginx refusing the config at reload: %v", err)
	}
	if got := readFile(t, path); got != before {
		t.Fatalf("the refused edit was not reverted:\n%s", got)
	}
}

// A detour and its end are one reload each; undoing either puts the file
// back byte for byte, from the Change alone (as from a journal).
func TestBalancerDetour(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, true)
	rt.drain()
	c, err := b.Detour(ctx, "app1:3000", "10.1.2.3:3000")
	if err != nil {
		t.Fatal(err)
	}
	detoured := readFile(t, path)
	if !strings.Contains(detoured, "server app1:3000 down;\n        server 10.1.2.3:3000; # nonstop: detour of app1:3000\n") || rt.reloads != 1 {
		t.Fatalf("after Detour (%d reloads):\n%s", rt.reloads, detoured)
	}
	if c.Op != OpDetour || c.Addr != "10.1.2.3:3000" || c.PrevDown || len(c.OldWorkers) != 1 {
		t.Fatalf("change %+v", c)
	}
	if err := b.Undo(ctx, roundTrip(t, c)); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != testConf || rt.reloads != 2 {
		t.Fatalf("undo of the detour (%d reloads):\n%s", rt.reloads, got)
	}
	if _, err := b.Detour(ctx, "app1:3000", "10.1.2.3:3000"); err != nil {
		t.Fatal(err)
	}
	e, err := b.EndDetour(ctx, "app1:3000", "10.1.2.3:3000", c.PrevDown)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != testConf {
		t.Fatalf("after EndDetour:\n%s", got)
	}
	if err := b.Undo(ctx, roundTrip(t, e)); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != detoured {
		t.Fatalf("undo of EndDetour:\n%s", got)
	}
	// Ending a detour puts a server back: its host must resolve.
	rt.resolves["app1"] = false
	if _, err := b.EndDetour(ctx, "app1:3000", "10.1.2.3:3000", false); !errors.Is(err, ErrUnresolvable) {
		t.Fatalf("EndDetour with app1 unresolvable: %v", err)
	}
	if got := readFile(t, path); got != detoured {
		t.Fatalf("a refused EndDetour changed the file:\n%s", got)
	}
	// A tampered journal cannot smuggle a directive through Addr.
	bad := c
	bad.Addr = "10.1.2.3:3000; include /etc/passwd"
	if err := b.Undo(ctx, bad); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("undo with a hostile Addr: %v", err)
	}
}

func roundTrip(t *testing.T, c Change) Change {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out Change
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A hand-off is one reload for two edits, and each of its Changes is undone
// on its own.
func TestBalancerHandoff(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, true)
	rt.drain()
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	rt.drain()
	afterDrain, reloads := readFile(t, path), rt.reloads
	in, out, err := b.Handoff(ctx, "app1:3000", "app2:3000")
	if err != nil {
		t.Fatal(err)
	}
	want := "events {}\nhttp {\n    upstream apps {\n        server app1:3000;\n        server app2:3000 weight=2 down;\n    }\n}\n"
	if got := readFile(t, path); got != want || rt.reloads != reloads+1 {
		t.Fatalf("after the hand-off (%d reloads, want %d):\n%s", rt.reloads, reloads+1, got)
	}
	if in.Op != OpRestore || out.Op != OpMarkDown || in.Noop || out.Noop || len(out.OldWorkers) == 0 ||
		!slices.Equal(in.OldWorkers, out.OldWorkers) || !in.ReloadedAt.Equal(out.ReloadedAt) {
		t.Fatalf("changes:\n in  %+v\n out %+v", in, out)
	}
	if err := b.Undo(ctx, roundTrip(t, out)); err != nil {
		t.Fatal(err)
	}
	if err := b.Undo(ctx, roundTrip(t, in)); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != afterDrain {
		t.Fatalf("after undoing both:\n%s\nwant\n%s", got, afterDrain)
	}
	// in already up: only out changes.
	b2, _, path2 := setup(t, testConf, false)
	in, out, err = b2.Handoff(ctx, "app1:3000", "app2:3000")
	if err != nil || !in.Noop || out.Noop || !strings.Contains(readFile(t, path2), "app2:3000 weight=2 down;") {
		t.Fatalf("hand-off with in already up: %v %+v %+v", err, in, out)
	}
	// in does not resolve: refused, nothing written.
	b3, rt3, path3 := setup(t, testConf, false)
	if _, err := b3.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path3)
	rt3.resolves["app1"] = false
	if _, _, err := b3.Handoff(ctx, "app1:3000", "app2:3000"); !errors.Is(err, ErrUnresolvable) || readFile(t, path3) != before {
		t.Fatalf("hand-off to an unresolvable server: %v", err)
	}
	if _, _, err := b3.Handoff(ctx, "app1:3000", "app1:3000"); err == nil {
		t.Fatal("hand-off of a server to itself accepted")
	}
}

// WaitIdle waits for every worker that is shutting down, whichever
// reload made it old.
func TestBalancerWaitIdle(t *testing.T) {
	ctx := context.Background()
	b, rt, _ := setup(t, testConf, false)
	rt.drain()
	if rep, err := b.WaitIdle(ctx, "app1:3000", time.Second); err != nil || rep.TimedOut {
		t.Fatalf("no old workers: %+v %v", rep, err)
	}
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	rep, err := b.WaitIdle(ctx, "app1:3000", 50*time.Millisecond)
	if err != nil || !rep.TimedOut || len(rep.Remaining) != 1 {
		t.Fatalf("an old worker left: %+v %v", rep, err)
	}
	go func() { time.Sleep(30 * time.Millisecond); rt.drain() }()
	if rep, err := b.WaitIdle(ctx, "app1:3000", 5*time.Second); err != nil || rep.TimedOut {
		t.Fatalf("after the old worker exits: %+v %v", rep, err)
	}
}
