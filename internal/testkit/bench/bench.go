// Package bench measures failed requests while a rollout runs, for
// cmd/plan-bench and the CI test internal/e2e/bench_test.go: it starts a
// fresh seed topology (internal/testkit/seedtopo: nginx in a container in front of
// N test apps), drives HTTP load through nginx (internal/load), runs one
// procedure against the topology and reports what the load saw before,
// during and after it.
//
// Procedures (the names are part of plan-bench's output):
//
//   - plan-apply: the plan binary, `plan apply -auto-approve -json` of
//     plans/rolling-update.hcl (2 apps) or of a generated rollout over N apps.
//   - seed-runbook: the seed's manual steps, literally, per app: mark the
//     server down in nginx.conf, `nginx -s reload`, fixed sleep, `docker rm -f`
//     and create + start the new container (what `docker-compose up -d` does
//     after `rm -f`), fixed sleep, remove `down`, reload, fixed sleep.
//   - naive-recreate: the same container recreation per app, nginx untouched.
//   - reload-control: as many bare `nginx -s reload`s as plan-apply makes
//     (two per app), 1s apart, no deploy: the floor nginx's own reload sets.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/load"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// Procedure names.
const (
	PlanApply     = "plan-apply"
	SeedRunbook   = "seed-runbook"
	NaiveRecreate = "naive-recreate"
	ReloadControl = "reload-control"
	// BalancerControl is an extra control, not in Procedures: see
	// procRun.balancerControl.
	BalancerControl = "balancer-control"
	// BalancerControlProc is BalancerControl with nginx's processes read
	// from /proc instead of `docker top`.
	BalancerControlProc = "balancer-control-proc"
)

// Procedures in the order they run.
var Procedures = []string{PlanApply, SeedRunbook, NaiveRecreate, ReloadControl}

// BenchSysctls are set in the nginx container of every benchmark topology
// (see seedtopo.Options.NginxSysctls): without tcp_tw_reuse, a closed-loop
// load exhausts nginx's ports to the apps some 3.5 s in and runs at the
// TIME_WAIT expiry rate from then on (measured: 29,000-33,500 sockets in
// TIME_WAIT in nginx's namespace, throughput from 8,500 down to 1,000
// requests/s), so the "before" and "during" windows would be two regimes.
var BenchSysctls = map[string]string{"net.ipv4.tcp_tw_reuse": "1"}

// Topology is a topology size.
type Topology struct {
	Name     string // "seed", "4-replicas"
	Replicas int
	// BatchSize is the batch_size of plan-apply's and plan-apply-dynamic's rollout (0: the plan's); see batches.go.
	BatchSize int
	// KeepAlive adds upstream keep-alive to the seed's nginx.conf (see
	// SeedKeepAlive).
	KeepAlive bool
}

// Topologies benchmarked: the seed's, and a wider one.
var (
	Seed      = Topology{Name: "seed", Replicas: 2}
	FourApps  = Topology{Name: "4-replicas", Replicas: 4}
	AllTopols = []Topology{Seed, FourApps}
)

// Scenario is a kind of load.
type Scenario struct {
	Name      string
	Method    string // GET or POST
	KeepAlive bool
	// Rate, when > 0, sends that many requests per second (open loop)
	// instead of the closed-loop clients: the CPU is not saturated, so
	// latencies show what the procedure itself costs.
	Rate int
	// Inflight sends 5-second requests (the test app's ?sleep=5s) at
	// InflightRate per second instead of the closed-loop load, so that
	// several are in flight on every server when it is drained.
	Inflight bool
}

// Scenarios: the four closed-loop variants, then the in-flight one.
var (
	PostKeepAlive = Scenario{Name: "post-keepalive", Method: "POST", KeepAlive: true}
	PostClose     = Scenario{Name: "post-close", Method: "POST"}
	GetKeepAlive  = Scenario{Name: "get-keepalive", Method: "GET", KeepAlive: true}
	GetClose      = Scenario{Name: "get-close", Method: "GET"}
	PostRate      = Scenario{Name: "post-keepalive-200rps", Method: "POST", KeepAlive: true, Rate: 200}
	Inflight5s    = Scenario{Name: "inflight-5s", Method: "GET", KeepAlive: true, Inflight: true}
	AllScenarios  = []Scenario{PostKeepAlive, PostClose, GetKeepAlive, GetClose, PostRate, Inflight5s}
)

// FineStep is the resolution of Result.Fine.
const FineStep = 250 * time.Millisecond

// InflightSleep and InflightRate shape the in-flight scenario.
const (
	InflightSleep = 5 * time.Second
	InflightRate  = 2
)

// Config is what every run shares.
type Config struct {
	Docker client.APIClient
	// PlanBin is the plan binary (see BuildPlan).
	PlanBin string
	// RepoRoot is this repository's root, for plans/.
	RepoRoot string
	// Log receives progress lines; nil discards.
	Log io.Writer
	// Before and After are how long the load runs before the procedure
	// starts and after it ends; default 3s each.
	Before, After time.Duration
	// Workers are the closed-loop clients; default 4.
	Workers int
	// RunbookSleep is each fixed sleep of seed-runbook (and the pause between
	// apps of naive-recreate); default 2s.
	RunbookSleep time.Duration
	// ReloadGap is the pause between reload-control's reloads; default 1s.
	ReloadGap time.Duration
	// KeepOutput keeps plan's output (JSON events and debug log) in every
	// Result, not only in failed ones.
	KeepOutput bool
}

func (c *Config) defaults() {
	if c.Before <= 0 {
		c.Before = 3 * time.Second
	}
	if c.After <= 0 {
		c.After = 3 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.RunbookSleep <= 0 {
		c.RunbookSleep = 2 * time.Second
	}
	if c.ReloadGap <= 0 {
		c.ReloadGap = time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Result is one procedure under one load on one topology.
type Result struct {
	Procedure string `json:"procedure"`
	Topology  string `json:"topology"`
	Replicas  int    `json:"replicas"`
	Scenario  string `json:"scenario"`
	// Total is the whole load run: Before, the procedure, After. Failures
	// are counted over all of it (a procedure can leave nginx broken).
	Total load.Report `json:"total"`
	// BeforeLoad is the load before the procedure; During while it ran.
	BeforeLoad load.Report `json:"before"`
	During     load.Report `json:"during"`
	// Fine is the whole run in buckets of FineStep, for plots.
	Fine []load.Second `json:"fine"`
	// Wall is the procedure's own wall time.
	Wall time.Duration `json:"wall_ns"`
	// Reloads is how many nginx reloads the procedure made.
	Reloads int `json:"reloads"`
	// Apply is plan-apply's time breakdown.
	Apply *ApplyBreakdown `json:"apply,omitempty"`
	// Phases are the load while each step (plan-apply) or action (the
	// others) ran: requests sent in it, failures, latencies.
	Phases []Phase `json:"phases,omitempty"`
	// Failures are when each failed request was sent (since the load
	// started) and how it failed; at most MaxFailures.
	Failures []Fail `json:"failures,omitempty"`
	// Samples are the first few failures, for evidence.
	Samples []string `json:"samples,omitempty"`
	// Output is the procedure's own output when it failed (plan's, say).
	Output string `json:"output,omitempty"`
	// Err is set when the procedure itself failed.
	Err string `json:"error,omitempty"`
}

// Phase is the load during one step or action of a procedure.
type Phase struct {
	Label    string        `json:"label"`
	From     time.Duration `json:"from_ns"` // since the load started
	To       time.Duration `json:"to_ns"`
	Requests int           `json:"requests"`
	Failed   int           `json:"failed"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// phases cuts the procedure into steps: "X start" to "X done"/"X failed"
// (plan-apply's steps), or each other mark to the next one.
func phases(run *load.Run, marks []load.Mark) []Phase {
	var out []Phase
	add := func(label string, from, to load.Mark) {
		w := run.Window(from.Time, to.Time)
		out = append(out, Phase{Label: label, From: from.At, To: to.At, Requests: w.Requests, Failed: w.Failed, P50: w.P50, P99: w.P99, Max: w.Max})
	}
	for i, m := range marks {
		if m.Label == "end" {
			break
		}
		if name, ok := strings.CutSuffix(m.Label, " start"); ok {
			for _, n := range marks[i+1:] {
				if n.Label == name+" done" || n.Label == name+" failed" {
					add(name, m, n)
					break
				}
			}
			continue
		}
		if m.Label == "begin" || strings.HasSuffix(m.Label, " done") || strings.HasSuffix(m.Label, " failed") {
			continue
		}
		for _, n := range marks[i+1:] {
			if !strings.HasSuffix(n.Label, " done") && !strings.HasSuffix(n.Label, " failed") {
				add(m.Label, m, n)
				break
			}
		}
	}
	return out
}

// MaxFailures bounds Result.Failures.
const MaxFailures = 2000

// Fail is one failed request: when it was sent, since the load started.
type Fail struct {
	At   time.Duration `json:"at_ns"`
	Kind string        `json:"kind"`
}

// ReloadSteps are the time ranges of plan-apply's drain and restore steps
// (from their start to their end, as marked from the -json events): the
// only steps that reload nginx.
func (r Result) ReloadSteps() [][2]time.Duration {
	var out [][2]time.Duration
	open := map[string]time.Duration{}
	for _, m := range r.Total.Marks {
		name, state, ok := strings.Cut(m.Label, " ")
		if !ok || name != "drain" && name != "restore" {
			continue
		}
		target, status, _ := strings.Cut(state, " ")
		key := name + " " + target
		switch status {
		case "start":
			open[key] = m.At
		default:
			if from, ok := open[key]; ok {
				out = append(out, [2]time.Duration{from, m.At})
				delete(open, key)
			}
		}
	}
	return out
}

// OutsideReloads are plan-apply's failures that no reload explains: sent
// outside every drain and restore step (plus slack), or beyond perReload
// failures within one step. A reload can cost each keep-alive client at
// most the one request it sends as nginx's old worker closes the idle
// connection, so perReload is the number of clients.
func (r Result) OutsideReloads(slack time.Duration, perReload int) []Fail {
	steps := r.ReloadSteps()
	count := make([]int, len(steps))
	var out []Fail
	for _, f := range r.Failures {
		in := -1
		for i, s := range steps {
			if f.At >= s[0]-slack && f.At <= s[1]+slack {
				in = i
				break
			}
		}
		if in < 0 || f.Kind == "timeout" || strings.HasPrefix(f.Kind, "5") {
			out = append(out, f)
			continue
		}
		if count[in]++; count[in] > perReload {
			out = append(out, f)
		}
	}
	return out
}

// Name is "procedure topology/scenario".
func (r Result) Name() string { return r.Procedure + " " + r.Topology + "/" + r.Scenario }

// Run starts a fresh topology, the load, and the procedure, and removes
// the topology. An error means the measurement could not be made; a
// procedure that failed (e.g. plan apply exiting 2) is a Result with Err.
func Run(ctx context.Context, c Config, topo Topology, sc Scenario, proc string) (Result, error) {
	c.defaults()
	res := Result{Procedure: proc, Topology: topo.Name, Replicas: topo.Replicas, Scenario: sc.Name}
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.Log, "%s  %s: %s\n", time.Now().Format("15:04:05.000"), res.Name(), fmt.Sprintf(format, args...))
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t, err := seedtopo.Start(sctx, c.Docker, seedtopo.Options{Replicas: topo.Replicas, Log: prefixed{c.Log, "  "}, NginxSysctls: BenchSysctls})
	if err != nil {
		return res, err
	}
	if proc == PlanApplyDynamic {
		_, err = DynamicNginx(sctx, c.Docker, t, c.RepoRoot, BenchSysctls)
	} else if topo.KeepAlive {
		err = upstreamKeepAlive(sctx, c.Docker, t)
	}
	if err != nil {
		_ = t.Close(context.WithoutCancel(ctx))
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := t.Close(cctx); err != nil {
			logf("removing the topology: %v", err)
		}
	}()
	if proc == BlueGreen { // two colours (bluegreen.go), before the load starts
		if err := t.IdleGreen(sctx); err != nil {
			return res, err
		}
	}

	lo := load.NewOptions(t.URL)
	lo.Method, lo.KeepAlive, lo.Workers = sc.Method, sc.KeepAlive, c.Workers
	lo.MaxDuration = 5 * time.Minute
	if sc.Method == "POST" {
		lo.Body = []byte("ping")
		lo.Header = map[string][]string{"Content-Type": {"text/plain"}}
	}
	lo.Rate = sc.Rate
	if sc.Inflight {
		lo.URL = t.URL + "?sleep=" + InflightSleep.String()
		lo.Rate = InflightRate
		lo.Timeout = 30 * time.Second
	}
	run, err := load.Start(ctx, lo)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			run.Stop()
		}
	}()
	type fed struct {
		samples []string
		fails   []Fail
	}
	feed := make(chan fed, 1)
	go func() {
		var s fed
		for f := range run.Failures() {
			if len(s.samples) < 12 {
				s.samples = append(s.samples, fmt.Sprintf("+%.2fs %s: %s", f.At.Seconds(), f.Kind, f.Error))
			}
			if len(s.fails) < MaxFailures {
				s.fails = append(s.fails, Fail{At: f.At, Kind: f.Kind})
			}
		}
		feed <- s
	}()

	if err := sleep(ctx, c.Before); err != nil {
		return res, err
	}
	p := &procRun{c: c, t: t, load: run, logf: logf, batch: topo.BatchSize}
	logf("start (load: %s %s, keep-alive %v)", lo.Method, lo.URL, lo.KeepAlive)
	began := time.Now()
	run.MarkAt("begin", began)
	var perr error
	switch proc {
	case PlanApply:
		perr = p.planApply(ctx, &res)
	case PlanApplyDynamic:
		perr = p.planApplyDynamic(ctx, &res)
	case ScaleAndSwap:
		perr = p.scaleAndSwap(ctx, &res)
	case SeedRunbook:
		perr = p.seedRunbook(ctx, &res)
	case NaiveRecreate:
		perr = p.naiveRecreate(ctx, &res)
	case ReloadControl:
		perr = p.reloadControl(ctx, &res)
	case BlueGreen:
		perr = p.blueGreen(ctx, &res)
	case BalancerControl:
		perr = p.balancerControl(ctx, &res, false)
	case BalancerControlProc:
		perr = p.balancerControl(ctx, &res, true)
	default:
		perr = fmt.Errorf("unknown procedure %q", proc)
	}
	ended := time.Now()
	run.MarkAt("end", ended)
	res.Wall = ended.Sub(began)
	if perr != nil {
		res.Err = perr.Error()
		logf("FAILED: %v", perr)
	}
	if err := sleep(ctx, c.After); err != nil {
		return res, err
	}
	res.Total = run.Stop()
	stopped = true
	res.Fine = run.Timeline(time.Time{}, time.Time{}, FineStep)
	res.BeforeLoad = run.Window(time.Time{}, began)
	res.During = run.Window(began, ended)
	res.Phases = phases(run, res.Total.Marks)
	got := <-feed
	res.Samples, res.Failures = got.samples, got.fails
	logf("done in %s: %d requests, %d failed (%s), %d non-2xx, p99 before %s during %s",
		res.Wall.Round(time.Millisecond), res.Total.Requests, res.Total.Failed, res.Total.Kinds(), res.Total.Non2xx,
		res.BeforeLoad.P99.Round(time.Microsecond*100), res.During.P99.Round(time.Microsecond*100))
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// prefixed indents every write (seedtopo's progress lines).
type prefixed struct {
	w      io.Writer
	prefix string
}

// Write implements io.Writer, prefixing each line.
func (p prefixed) Write(b []byte) (int, error) {
	_, err := io.WriteString(p.w, p.prefix+strings.TrimRight(string(b), "\n")+"\n")
	return len(b), err
}

// RepoRoot finds the module root from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/nonstop-deploy/nonstop\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("bench: not inside the nonstop repository")
		}
		dir = parent
	}
}
