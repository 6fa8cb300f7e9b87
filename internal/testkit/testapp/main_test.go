package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustConfig(t *testing.T, m map[string]string) config {
	t.Helper()
	c, err := configFromEnv(env(m))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
	return w
}

func TestConfigDefaultsAndKnobs(t *testing.T) {
	c := mustConfig(t, nil)
	if c.Port != "3000" || c.Fail || c.Slow != 0 || c.IgnoreSIGTERM {
		t.Fatalf("defaults: %+v", c)
	}
	c = mustConfig(t, map[string]string{"PORT": "8080", "MESSAGE": "m", "FAIL": "1", "SLOW": "2s",
		"START_DELAY": "5s", "IGNORE_SIGTERM": "true", "CRASH_AFTER": "10s"})
	want := config{Port: "8080", Message: "m", Fail: true, Slow: 2 * time.Second,
		StartDelay: 5 * time.Second, IgnoreSIGTERM: true, CrashAfter: 10 * time.Second}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	for k, v := range map[string]string{"SLOW": "2", "FAIL": "yes", "CRASH_AFTER": "-1s"} {
		if _, err := configFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v, want one naming %s", k, v, err, k)
		}
	}
}

func TestBodyIsTheOriginals(t *testing.T) {
	h := newHandler(mustConfig(t, map[string]string{"MESSAGE": "app1,v1"}))
	for _, method := range []string{"GET", "POST"} {
		w := do(t, h, method, "/", "some=body")
		if w.Code != 200 || w.Body.String() != "Hi there, I love ! app1,v1" {
			t.Errorf("%s /: %d %q", method, w.Code, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s /: Content-Type %q", method, ct)
		}
	}
	if w := do(t, h, "GET", "/Go", ""); w.Body.String() != "Hi there, I love Go! app1,v1" {
		t.Errorf("GET /Go: %q", w.Body.String())
	}
	if w := do(t, h, "GET", "/healthz", ""); w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("GET /healthz: %d %q", w.Code, w.Body.String())
	}
}

func TestFail(t *testing.T) {
	h := newHandler(mustConfig(t, map[string]string{"MESSAGE": "app1,v2", "FAIL": "1"}))
	for _, p := range []string{"/", "/healthz"} {
		w := do(t, h, "GET", p, "")
		if w.Code != 500 || !strings.HasSuffix(w.Body.String(), " app1,v2") {
			t.Errorf("GET %s under FAIL: %d %q", p, w.Code, w.Body.String())
		}
	}
}

func TestSlowAndSleep(t *testing.T) {
	h := newHandler(mustConfig(t, map[string]string{"SLOW": "50ms"}))
	start := time.Now()
	do(t, h, "GET", "/", "")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("SLOW=50ms answered in %s", d)
	}
	h = newHandler(mustConfig(t, nil))
	start = time.Now()
	do(t, h, "GET", "/?sleep=80ms", "")
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("?sleep=80ms answered in %s", d)
	}
	if w := do(t, h, "GET", "/?sleep=soon", ""); w.Code != 400 {
		t.Errorf("?sleep=soon: %d", w.Code)
	}
}

// startApp runs the server on a random port and returns its base URL, the
// signal channel and the channel that receives the exit status.
func startApp(t *testing.T, m map[string]string) (string, chan os.Signal, chan int) {
	t.Helper()
	if m == nil {
		m = map[string]string{}
	}
	m["PORT"] = "0"
	cfg := mustConfig(t, m)
	sigs := make(chan os.Signal, 1)
	ready := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	go func() { exit <- run(cfg, sigs, ready, log.New(io.Discard, "", 0)) }()
	select {
	case a := <-ready:
		port := a.(*net.TCPAddr).Port
		return "http://127.0.0.1:" + strconv.Itoa(port), sigs, exit
	case code := <-exit:
		t.Fatalf("exited with %d before listening", code)
	case <-time.After(5 * time.Second):
		t.Fatal("not listening after 5s")
	}
	return "", nil, nil
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	url, sigs, exit := startApp(t, map[string]string{"MESSAGE": "m"})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/?sleep=300ms")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight
	sigs <- syscall.SIGTERM
	r := <-got
	if r.err != nil || r.body != "Hi there, I love ! m" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
	if _, err := http.Get(url + "/"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestIgnoreSIGTERM(t *testing.T) {
	url, sigs, exit := startApp(t, map[string]string{"IGNORE_SIGTERM": "1"})
	sigs <- syscall.SIGTERM
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("not serving after an ignored SIGTERM: %v", err)
	}
	resp.Body.Close()
	sigs <- syscall.SIGINT // still stops on SIGINT
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestCrashAfter(t *testing.T) {
	_, _, exit := startApp(t, map[string]string{"CRASH_AFTER": "100ms"})
	select {
	case code := <-exit:
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not crash")
	}
}

func TestStartDelay(t *testing.T) {
	start := time.Now()
	_, sigs, exit := startApp(t, map[string]string{"START_DELAY": "150ms"})
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("listening after %s, want >= 150ms", d)
	}
	sigs <- syscall.SIGTERM
	<-exit
}
