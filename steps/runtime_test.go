package steps

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// The arithmetic of a health check that cannot pass is in its error.
func TestHealthCheckTimeoutDetail(t *testing.T) {
	p, diags := load(t, `
step "health_check" "a" {
  container         = "a"
  tcp { port = 3000 }
  interval          = "30s"
  healthy_threshold = 3
  timeout           = "60s"
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := Lint(p, mustGraph(t, p))
	if len(d) != 1 {
		t.Fatalf("lint: %v", d)
	}
	for _, want := range []string{"(3 - 1) × 30s = 1m0s", "timeout = 1m0s", "healthy_threshold is set at", "interval is set at"} {
		if !strings.Contains(d[0].Detail, want) {
			t.Errorf("detail %q lacks %q", d[0].Detail, want)
		}
	}
	if d[0].Subject.Start.Line != 13 {
		t.Errorf("points at line %d, want the timeout's, 13", d[0].Subject.Start.Line)
	}
}

// An http probe's errors never show a sensitive expected value.
func TestHTTPProbeHidesSensitiveValues(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Token", "old-token")
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	probe := func(sensitive bool) *HTTPProbe {
		h := &HTTPProbe{Port: dsl.Int{Value: atoi(t, port)}, Path: dsl.String{Value: "/s3cr3t-path", Sensitive: sensitive},
			Method: dsl.String{Value: "GET"}, ExpectStatus: dsl.Int{Value: 200}, Timeout: dsl.Duration{Value: 5e9}}
		return h
	}
	for _, tc := range []struct {
		name string
		set  func(h *HTTPProbe, sensitive bool)
	}{
		{"headers", func(h *HTTPProbe, s bool) {
			h.ExpectHeaders = dsl.StringMap{Value: map[string]string{"X-Token": "s3cr3t-token"}, Set: true, Sensitive: s}
		}},
		{"body", func(h *HTTPProbe, s bool) { h.ExpectBody = dsl.String{Value: "s3cr3t-body", Set: true, Sensitive: s} }},
		{"status", func(h *HTTPProbe, s bool) { h.ExpectStatus = dsl.Int{Value: 204} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, sensitive := range []bool{false, true} {
				h := probe(sensitive)
				tc.set(h, sensitive)
				err := h.check(context.Background(), host)
				if err == nil {
					t.Fatal("the probe passed")
				}
				if leaked := strings.Contains(err.Error(), "s3cr3t"); leaked == sensitive {
					t.Errorf("sensitive=%v: error %q", sensitive, err)
				}
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// Connecting to an engine waits under the caller's context, and holds no
// lock meanwhile: another engine, or a caller that gives up, is not held
// up by an engine that does not answer.
func TestEngineConnectHoldsNoLock(t *testing.T) {
	hung := func() (string, chan struct{}) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan struct{}, 1)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close() // never answers
				select {
				case accepted <- struct{}{}:
				default:
				}
			}
		}()
		t.Cleanup(func() { _ = l.Close() })
		return "tcp://" + l.Addr().String(), accepted
	}
	a, acceptedA := hung()
	b, _ := hung()
	env := NewEnv(zerolog.Nop(), Builtin())
	defer env.Close()
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { _, err := env.Engine(ctxA, dockerx.Endpoint{Host: a}); doneA <- err }()
	<-acceptedA // A waits for the engine's answer

	// Another caller for the same engine gives up with its own context.
	ctxC, cancelC := context.WithCancel(context.Background())
	cancelC()
	if _, err := env.Engine(ctxC, dockerx.Endpoint{Host: a}); !errors.Is(err, context.Canceled) {
		t.Errorf("a caller that gave up: %v", err)
	}
	// Another engine is not held up by A.
	ctxB, cancelB := context.WithCancel(context.Background())
	cancelB()
	if _, err := env.Engine(ctxB, dockerx.Endpoint{Host: b}); err == nil {
		t.Error("connected to an engine that never answers")
	}
	cancelA()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Errorf("A after its context was cancelled: %v", err)
	}
}

// Preflight's errors keep the range of what they are about, so apply can
// print them like validate does.
func TestPreflightErrorsKeepRanges(t *testing.T) {
	testenv.Docker(t)
	name := testenv.UniqueName("nonstop-missing")
	p, diags := load(t, `
step "deploy" "a" {
  container = "`+name+`"
  image     = "`+name+`:none"
  pull      = "never"
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	env := NewEnv(zerolog.Nop(), Builtin())
	defer env.Close()
	errs := Preflight(context.Background(), env, p, nil)
	got := map[string]int{}
	for _, err := range errs {
		ds, ok := dsl.Diagnostics(err)
		if !ok {
			t.Errorf("no range: %v", err)
			continue
		}
		got[ds[0].Summary] = ds[0].Subject.Start.Line
	}
	if got["Container not found"] != 9 || got["Image not present"] != 10 {
		t.Errorf("diagnostics at %v; want Container not found at line 9, Image not present at 10", got)
	}
}

// A step's run-time error keeps the range of the attribute it is about.
func TestApplyErrorKeepsRange(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.hcl")
	src := `
nginx "host" {
  pid_file = "` + filepath.Join(dir, "nginx.pid") + `"
  config   = "nginx.conf"
  upstream = "apps"
}
step "drain" "a" {
  nginx  = nginx.host
  server = "a:3000"
}`
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load(f, Builtin(), dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	env := NewEnv(zerolog.Nop(), Builtin())
	task := &Task{Env: env, Type: "drain", Spec: SpecOf(p.Steps[0]), Range: p.Steps[0].DeclRange}
	_, err := task.Apply(context.Background(), func(string) {})
	if err == nil {
		t.Fatal("a drain with no nginx config succeeded")
	}
	ds, ok := dsl.Diagnostics(err)
	if !ok || ds[0].Summary != "Drain failed" || ds[0].Subject.Start.Line != 9 {
		t.Errorf("diagnostics %v; want Drain failed at the server, line 9", ds)
	}
}

func mustGraph(t *testing.T, p *dsl.Plan) *executor.Graph {
	t.Helper()
	g, diags := executor.Build(p)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return g
}
