package steps

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	probe "github.com/nonstop-deploy/nonstop/internal/load"
)

func loadGate(t *testing.T, body string) (*GateSpec, hcl.Diagnostics) {
	t.Helper()
	p, diags := load(t, `step "gate" "g" {
`+body+`
}`)
	if diags.HasErrors() {
		return nil, diags
	}
	return p.Steps[0].Spec.(*GateSpec), diags
}

// The gate decodes its defaults and rejects, at decode time, what it
// cannot run.
func TestGateDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      func(t *testing.T, s *GateSpec)
		wantErr    string
	}{
		{name: "defaults", body: `url = "http://127.0.0.1:8080/"
duration = "10s"`, check: func(t *testing.T, s *GateSpec) {
			b := s.budget()
			if s.Rate.Value != DefaultGateRate || s.Method.Value != "GET" || s.Duration.Value != 10*time.Second ||
				!b.HasMaxFailures || b.MaxFailures != 0 || b.HasErrorRate || b.MaxP99 != 0 || s.DefaultTimeout() != 40*time.Second {
				t.Errorf("%+v budget %+v", s, b)
			}
		}},
		{name: "an error rate alone lifts the failure count", body: `url = "http://127.0.0.1:8080/"
duration = "10s"
max_error_rate = 0.05
max_p99 = "200ms"`, check: func(t *testing.T, s *GateSpec) {
			b := s.budget()
			if b.HasMaxFailures || !b.HasErrorRate || b.MaxErrorRate != 0.05 || b.MaxP99 != 200*time.Millisecond {
				t.Errorf("budget %+v", b)
			}
		}},
		{name: "both budgets", body: `url = "http://127.0.0.1:8080/"
duration = "10s"
max_error_rate = 1
max_failures = 3`, check: func(t *testing.T, s *GateSpec) {
			if b := s.budget(); !b.HasMaxFailures || b.MaxFailures != 3 || !b.HasErrorRate || b.MaxErrorRate != 1 {
				t.Errorf("budget %+v", b)
			}
		}},
		{name: "url is required", body: `duration = "10s"`, wantErr: `Missing required argument "url"`},
		{name: "duration is required", body: `url = "http://127.0.0.1/"`, wantErr: `Missing required argument "duration"`},
		{name: "zero duration", body: `url = "http://127.0.0.1/"
duration = "0s"`, wantErr: "must be more than zero"},
		{name: "rate too high", body: `url = "http://127.0.0.1/"
duration = "1s"
rate = 5000`, wantErr: `"rate" must be a whole number from 1 to 1000`},
		{name: "rate zero", body: `url = "http://127.0.0.1/"
duration = "1s"
rate = 0`, wantErr: `"rate" must be a whole number from 1 to 1000`},
		{name: "error rate over 1", body: `url = "http://127.0.0.1/"
duration = "1s"
max_error_rate = 5`, wantErr: `"max_error_rate" must be a number from 0 to 1`},
		{name: "negative error rate", body: `url = "http://127.0.0.1/"
duration = "1s"
max_error_rate = -0.1`, wantErr: `"max_error_rate" must be a number from 0 to 1`},
		{name: "error rate as a string", body: `url = "http://127.0.0.1/"
duration = "1s"
max_error_rate = "1%"`, wantErr: `"max_error_rate" must be a number from 0 to 1`},
		{name: "negative max_failures", body: `url = "http://127.0.0.1/"
duration = "1s"
max_failures = -1`, wantErr: `Invalid value for "max_failures"`},
		{name: "url without a scheme", body: `url = "127.0.0.1:8080"
duration = "1s"`, wantErr: "Invalid gate url"},
		{name: "method", body: `url = "http://127.0.0.1/"
duration = "1s"
method = "DELETE"`, wantErr: `Invalid value for "method"`},
		{name: "timeout shorter than the duration", body: `url = "http://127.0.0.1/"
duration = "30s"
timeout = "20s"`, wantErr: "Gate cannot pass within its timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, diags := loadGate(t, tc.body)
			if tc.wantErr == "" {
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				tc.check(t, s)
				return
			}
			if diags == nil {
				// Timeouts are checked by lint, after decoding.
				p, _ := load(t, `step "gate" "g" {
`+tc.body+`
}`)
				g, gd := executor.Build(p)
				if gd.HasErrors() {
					t.Fatal(gd)
				}
				diags = Lint(p, g)
			}
			if !strings.Contains(diags.Error(), tc.wantErr) {
				t.Fatalf("diagnostics %v; want %q", diags, tc.wantErr)
			}
		})
	}
}

// The verdict names the numbers the user needs: how many failed, of what
// kind, against which budget.
func TestGateVerdict(t *testing.T) {
	rep := func(requests, code500, reset int, p99 time.Duration) probe.Report {
		r := probe.Report{Requests: requests, Non2xx: code500, TransportErrors: reset, P99: p99, ByKind: map[string]int{}, Duration: 5 * time.Second}
		if code500 > 0 {
			r.ByKind["502"] = code500
		}
		if reset > 0 {
			r.ByKind["reset"] = reset
		}
		return r
	}
	zero := gateBudget{HasMaxFailures: true}
	for _, tc := range []struct {
		name string
		b    gateBudget
		rep  probe.Report
		want string // "" passes
	}{
		{"clean run passes", zero, rep(250, 0, 0, 3*time.Millisecond), ""},
		{"one failure over budget 0", zero, rep(250, 3, 0, time.Millisecond), "gate failed: 3 of 250 requests failed (502×3), budget 0"},
		{"within max_failures", gateBudget{HasMaxFailures: true, MaxFailures: 3}, rep(250, 2, 1, time.Millisecond), ""},
		{"over max_failures, kinds listed", gateBudget{HasMaxFailures: true, MaxFailures: 3}, rep(250, 3, 1, time.Millisecond), "gate failed: 4 of 250 requests failed (502×3, reset×1), budget 3"},
		{"within error rate", gateBudget{HasErrorRate: true, MaxErrorRate: 0.05}, rep(100, 5, 0, time.Millisecond), ""},
		{"over error rate", gateBudget{HasErrorRate: true, MaxErrorRate: 0.05}, rep(100, 6, 0, time.Millisecond), "gate failed: error rate 6% (6 of 100 requests (502×6)), over max_error_rate 5%"},
		{"a small rate keeps its digits", gateBudget{HasErrorRate: true, MaxErrorRate: 0.00001}, rep(50000, 1, 0, time.Millisecond), "gate failed: error rate 0.002% (1 of 50000 requests (502×1)), over max_error_rate 0.001%"},
		{"latency over bound", gateBudget{HasMaxFailures: true, MaxP99: 100 * time.Millisecond}, rep(100, 0, 0, 150*time.Millisecond), "gate failed: p99 latency 150ms over max_p99 100ms (100 requests)"},
		{"latency at bound passes", gateBudget{HasMaxFailures: true, MaxP99: 100 * time.Millisecond}, rep(100, 0, 0, 100*time.Millisecond), ""},
		{"every bound exceeded is named", gateBudget{HasMaxFailures: true, HasErrorRate: true, MaxErrorRate: 0.01, MaxP99: time.Millisecond}, rep(10, 1, 0, time.Second),
			"gate failed: 1 of 10 requests failed (502×1), budget 0; error rate 10% (1 of 10 requests (502×1)), over max_error_rate 1%; p99 latency 1s over max_p99 1ms (10 requests)"},
		{"no answer at all fails", gateBudget{HasErrorRate: true, MaxErrorRate: 1}, rep(0, 0, 0, 0), "gate failed: no probe was answered in 5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.verdict(tc.rep)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("verdict\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A gate never sends traffic off this machine: preflight refuses the URL
// before anything runs.
func TestGatePreflightRefusesRemote(t *testing.T) {
	for _, u := range []string{"http://192.0.2.10:8080/", "http://[2001:db8::1]/"} {
		s, diags := loadGate(t, fmt.Sprintf("url = %q\nduration = \"1s\"", u))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		errs := s.Preflight(context.Background(), nil)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "a gate probes only this machine") {
			t.Errorf("%s: preflight %v; want it refused", u, errs)
		}
		if _, err := s.Apply(context.Background(), nil, func(string) {}); err == nil {
			t.Errorf("%s: apply ran", u)
		}
	}
	s, _ := loadGate(t, "url = \"http://127.0.0.1:1/\"\nduration = \"1s\"")
	if errs := s.Preflight(context.Background(), nil); len(errs) != 0 {
		t.Errorf("loopback refused: %v", errs)
	}
}

// Apply against a real server on loopback: a server answering 500 to
// every 10th request fails a zero budget with the count it served; a
// clean one passes; a cancelled gate returns at once.
func TestGateApply(t *testing.T) {
	var n, fails atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 && r.URL.Path == "/flaky" {
			fails.Add(1)
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)

	s, _ := loadGate(t, fmt.Sprintf("url = %q\nduration = \"500ms\"\nrate = 100", srv.URL+"/flaky"))
	_, err := s.Apply(context.Background(), nil, func(string) {})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("gate failed: %d of ", fails.Load())) ||
		!strings.Contains(err.Error(), fmt.Sprintf("(500×%d), budget 0", fails.Load())) {
		t.Errorf("flaky server (%d failures served): %v", fails.Load(), err)
	}

	s, _ = loadGate(t, fmt.Sprintf("url = %q\nduration = \"300ms\"\nrate = 100", srv.URL+"/"))
	var notes []string
	if _, err := s.Apply(context.Background(), nil, func(m string) { notes = append(notes, m) }); err != nil || len(notes) != 1 || !strings.HasPrefix(notes[0], "passed: ") {
		t.Errorf("clean server: %v %q", err, notes)
	}

	s, _ = loadGate(t, fmt.Sprintf("url = %q\nduration = \"10m\"", srv.URL+"/"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	done := make(chan error, 1)
	go func() { _, err := s.Apply(ctx, nil, func(string) {}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "gate cut short") {
			t.Errorf("cancelled gate: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled gate did not return")
	}
}

// The review shows the probes and the budget.
func TestGateDescribe(t *testing.T) {
	s, diags := loadGate(t, `url = "http://127.0.0.1:8080/"
duration = "10s"
max_p99 = "250ms"`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var got []string
	for _, a := range s.Describe() {
		got = append(got, a.Name+"="+a.Value)
	}
	want := `url="http://127.0.0.1:8080/" probes=GET at 50/s for 10s max_failures=0 max_p99=250ms`
	if strings.Join(got, " ") != want {
		t.Errorf("describe %q\nwant %q", strings.Join(got, " "), want)
	}
	var _ dsl.Spec = s
}

// A sensitive url never shows in a refusal.
func TestGateHidesSensitiveURL(t *testing.T) {
	p, diags := load(t, `variable "lb" {
  default   = "http://192.0.2.77:8080/"
  sensitive = true
}
step "gate" "g" {
  url      = var.lb
  duration = "1s"
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	s := p.Steps[0].Spec.(*GateSpec)
	errs := s.Preflight(context.Background(), nil)
	if len(errs) != 1 || strings.Contains(errs[0].Error(), "192.0.2.77") || !strings.Contains(errs[0].Error(), "(sensitive)") {
		t.Errorf("preflight %v", errs)
	}
	for _, a := range s.Describe() {
		if strings.Contains(a.Value, "192.0.2.77") {
			t.Errorf("describe shows %s = %s", a.Name, a.Value)
		}
	}
}
