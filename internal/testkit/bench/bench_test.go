package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/load"
)

func TestShortStep(t *testing.T) {
	for in, want := range map[string]string{
		"step.drain.app2":              "drain app2",
		"step.health_check.app1":       "health_check app1",
		`rollout.apps["app4"].restore`: "restore app4",
		`rollout.apps["app3"].deploy`:  "deploy app3",
		"something.else":               "something.else",
	} {
		if got := shortStep(in); got != want {
			t.Errorf("shortStep(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAnalyze(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []event{
		{Time: at(500), Type: "step", Step: "step.drain.app2", Status: "running"},
		{Time: at(1200), Type: "note", Step: "step.drain.app2", Message: "drained app2:3000 in 489ms"},
		{Time: at(1200), Type: "step", Step: "step.drain.app2", Status: "done", Elapsed: 0.7},
		{Time: at(1200), Type: "step", Step: "step.deploy.app2", Status: "running"},
		{Time: at(3200), Type: "step", Step: "step.deploy.app2", Status: "done", Elapsed: 2},
		{Time: at(3200), Type: "step", Step: "step.health_check.app2", Status: "running"},
		{Time: at(3600), Type: "step", Step: "step.health_check.app2", Status: "done", Elapsed: 0.4},
		{Time: at(3600), Type: "step", Step: "step.restore.app2", Status: "running"},
		{Time: at(4000), Type: "step", Step: "step.restore.app2", Status: "done", Elapsed: 0.4},
	}
	log := "7:16AM DBG nginx: config test passed op=mark_down server=app2:3000 took=100.5 upstream=apps\n" +
		"7:16AM INF nginx: reloaded, new workers live old_workers=[1] op=mark_down took=120 upstream=apps\n" +
		"7:16AM INF nginx: reloaded, new workers live old_workers=[1] op=restore+mark_down took=0.5 upstream=apps\n" +
		"7:16AM INF nginx: reloaded, new workers live old_workers=[1] op=restore took=50 upstream=apps\n"
	b := analyze(events, t0, at(4300), log)
	want := ApplyBreakdown{Wall: 4300 * time.Millisecond, Startup: 500 * time.Millisecond, Finish: 300 * time.Millisecond,
		DrainWait: 489 * time.Millisecond, Deploy: 2 * time.Second, Health: 400 * time.Millisecond,
		NginxTest: 100500 * time.Microsecond, NginxReload: 170500 * time.Microsecond}
	want.Waiting = want.DrainWait + want.Deploy + want.Health
	want.Overhead = want.Wall - want.Waiting
	want.Nginx = want.NginxTest + 50*time.Millisecond // the restore's reload; the drain's is in DrainWait
	want.Own = want.Overhead - want.Nginx
	if b.Wall != want.Wall || b.Startup != want.Startup || b.Finish != want.Finish || b.DrainWait != want.DrainWait ||
		b.Deploy != want.Deploy || b.Health != want.Health || b.Waiting != want.Waiting || b.Overhead != want.Overhead ||
		b.NginxTest != want.NginxTest || b.NginxReload != want.NginxReload || b.Nginx != want.Nginx || b.Own != want.Own {
		t.Errorf("analyze:\n got %+v\nwant %+v", b, want)
	}
	if b.Steps["restore"] != 400*time.Millisecond {
		t.Errorf("steps %v", b.Steps)
	}
}

func TestPlanSource(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	two, err := PlanSource(root, 2)
	if err != nil || !strings.Contains(two, `step "drain" "app2"`) {
		t.Fatalf("seed plan: %v", err)
	}
	four, err := PlanSource(root, 4)
	if err != nil || !strings.Contains(four, `apps = ["app4", "app3", "app2", "app1"]`) {
		t.Fatalf("4-app plan: %v\n%s", err, four)
	}
}

func fakeResult(proc, scen string, failed, transport, non2xx int) Result {
	tl := []load.Second{{At: 0, Requests: 100}, {At: time.Second, Requests: 90, Failed: failed}, {At: 2 * time.Second, Requests: 100}}
	r := Result{Procedure: proc, Topology: "seed", Replicas: 2, Scenario: scen, Wall: 10 * time.Second, Reloads: 4,
		Total: load.Report{Requests: 290, Failed: failed, TransportErrors: transport, Non2xx: non2xx,
			ByKind: map[string]int{}, Timeline: tl, Duration: 3 * time.Second,
			Marks: []load.Mark{{Label: "begin", At: 500 * time.Millisecond}, {Label: "drain app2 start", At: time.Second}, {Label: "drain app2 done", At: 1500 * time.Millisecond}, {Label: "end", At: 2500 * time.Millisecond}}},
		BeforeLoad: load.Report{P50: time.Millisecond, P99: 5 * time.Millisecond, Max: 9 * time.Millisecond},
		During:     load.Report{P50: time.Millisecond, P99: 8 * time.Millisecond, Max: 20 * time.Millisecond},
	}
	if transport > 0 {
		r.Total.ByKind["eof"] = transport
	}
	if non2xx > 0 {
		r.Total.ByKind["502"] = non2xx
	}
	if proc == PlanApply {
		r.Apply = &ApplyBreakdown{Wall: 10 * time.Second, Waiting: 9 * time.Second, Overhead: time.Second, Nginx: 300 * time.Millisecond, Own: 700 * time.Millisecond}
	}
	return r
}

func TestDocsAndVerdicts(t *testing.T) {
	s := &Suite{Started: time.Now(), Settings: Settings{Before: 3 * time.Second, After: 3 * time.Second, Workers: 4, RunbookSleep: 2 * time.Second, Repeat: 1},
		Results: []Result{
			fakeResult(PlanApply, "post-keepalive", 3, 3, 0),
			fakeResult(SeedRunbook, "post-keepalive", 30, 20, 10),
			fakeResult(NaiveRecreate, "post-keepalive", 200, 0, 200),
			fakeResult(ReloadControl, "post-keepalive", 4, 4, 0),
		}}
	vs := Verdicts(s)
	if len(vs) != 4 {
		t.Fatalf("verdicts %+v", vs)
	}
	for _, v := range vs {
		want := v.Target != "overhead < 5% of wall" // 10% in the fake
		if v.OK != want {
			t.Errorf("verdict %+v, want ok=%v", v, want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "benchmarks.md"), []byte("# Benchmarks\n\n## Parsing and graph\n\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second run replaces the section
		if err := WriteDocs(s, dir, true); err != nil {
			t.Fatal(err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "benchmarks.md"))
	if strings.Count(string(md), BeginMarker) != 1 || !strings.Contains(string(md), "## Parsing and graph\n\nkept\n") ||
		!strings.Contains(string(md), "| seed/post-keepalive | 3 (290) | 30 (290) | 200 (290) | 4 (290) |") {
		t.Errorf("benchmarks.md:\n%s", md)
	}
	if fi, err := os.Stat(filepath.Join(dir, "benchmarks", "seed-post-keepalive.png")); err != nil || fi.Size() < 1000 {
		t.Errorf("png: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "benchmarks", "results.json")); err != nil {
		t.Error(err)
	}
}

func TestOutsideReloads(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	r := Result{Total: load.Report{Marks: []load.Mark{
		{Label: "begin", At: s(3)},
		{Label: "drain app2 start", At: s(3.1)}, {Label: "drain app2 done", At: s(4)},
		{Label: "deploy app2 start", At: s(4)}, {Label: "deploy app2 done", At: s(6)},
		{Label: "restore app2 start", At: s(6.5)}, {Label: "restore app2 done", At: s(7)},
	}}}
	r.Failures = []Fail{{s(3.5), "eof"}, {s(3.5), "eof"}, {s(3.5), "eof"}, // a burst at the drain's reload
		{s(5), "reset"},  // during the deploy: not a reload
		{s(6.8), "502"},  // a 5xx is never the reload's
		{s(7.05), "eof"}, // within the slack
		{s(3.6), "eof"}}  // a 4th in the drain, with 3 clients
	got := r.OutsideReloads(100*time.Millisecond, 3)
	if len(got) != 3 || got[0].At != s(5) || got[1].Kind != "502" || got[2].At != s(3.6) {
		t.Errorf("outside reloads: %+v (steps %v)", got, r.ReloadSteps())
	}
}

// TestParseTook: the log's took= as plan writes it now (a duration with
// its unit) and as it did before (milliseconds, bare).
func TestParseTook(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"41.5ms": 41500 * time.Microsecond, "1.2s": 1200 * time.Millisecond, "850µs": 850 * time.Microsecond,
		"100.5": 100500 * time.Microsecond, "120": 120 * time.Millisecond,
	} {
		if got := parseTook(in); got != want {
			t.Errorf("parseTook(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestParseEvent: the breakdown reads `plan apply -json`'s messages
// (Terraform's machine-readable UI): a step's status changes and notes
// become events, stamped with @timestamp; the version, diagnostics and
// summary are not events.
func TestParseEvent(t *testing.T) {
	lines := []string{
		`{"@level":"info","@message":"plan 0.1.0","@module":"plan.ui","@timestamp":"2026-11-27T12:00:00.000000Z","plan":"0.1.0","type":"version","ui":"1.0"}`,
		`{"@level":"info","@message":"step.drain.app2: Running...","@module":"plan.ui","@timestamp":"2026-11-27T12:00:01.250000Z","hook":{"step":"step.drain.app2","action":"apply","status":"running","elapsed_seconds":0},"type":"apply_start"}`,
		`{"@level":"info","@message":"step.drain.app2: drained app2:3000 in 489ms","@module":"plan.ui","@timestamp":"2026-11-27T12:00:01.750000Z","hook":{"step":"step.drain.app2","action":"apply","note":"drained app2:3000 in 489ms","elapsed_seconds":0},"type":"apply_progress"}`,
		`{"@level":"info","@message":"step.drain.app2: Done after 0.5s","@module":"plan.ui","@timestamp":"2026-11-27T12:00:01.760000Z","hook":{"step":"step.drain.app2","action":"apply","status":"done","elapsed_seconds":0.5},"type":"apply_complete"}`,
		`{"@level":"info","@message":"Apply complete: 1 steps.","@module":"plan.ui","@timestamp":"2026-11-27T12:00:02.000000Z","summary":{},"type":"apply_summary"}`,
	}
	var events []event
	for _, l := range lines {
		if e, ok := parseEvent([]byte(l)); ok {
			events = append(events, e)
		}
	}
	if len(events) != 3 {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	if e := events[0]; e.Type != "step" || e.Status != "running" || e.Step != "step.drain.app2" || e.Time.Nanosecond() != 250000000 {
		t.Errorf("start: %+v", e)
	}
	if e := events[1]; e.Type != "note" || e.Message != "drained app2:3000 in 489ms" {
		t.Errorf("note: %+v", e)
	}
	if e := events[2]; e.Type != "step" || e.Status != "done" || e.Elapsed != 0.5 {
		t.Errorf("done: %+v", e)
	}
	b := analyze(events, events[0].Time.Add(-time.Second), events[2].Time.Add(time.Second), "")
	if b.DrainWait != 489*time.Millisecond || b.Steps["drain"] != 500*time.Millisecond || b.Startup != time.Second {
		t.Errorf("breakdown: %+v", b)
	}
}

// A batch deploys and checks several targets at once: waiting counts each
// instant once, so the overhead of a batched apply is not negative.
func TestAnalyzeBatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []event{
		{Time: at(100), Type: "step", Step: `rollout.apps["app1"].deploy`, Status: "running"},
		{Time: at(100), Type: "step", Step: `rollout.apps["app2"].deploy`, Status: "running"},
		{Time: at(2100), Type: "step", Step: `rollout.apps["app1"].deploy`, Status: "done", Elapsed: 2},
		{Time: at(2300), Type: "step", Step: `rollout.apps["app2"].deploy`, Status: "done", Elapsed: 2.2},
		{Time: at(2300), Type: "step", Step: `rollout.apps["app1"].health_check`, Status: "done", Elapsed: 0.2},
		{Time: at(3000), Type: "step", Step: `rollout.apps["app2"].health_check`, Status: "done", Elapsed: 0.5},
	}
	b := analyze(events, t0, at(3200), "")
	if b.Deploy != 4200*time.Millisecond || b.Health != 700*time.Millisecond {
		t.Errorf("sums: deploy %s, health %s", b.Deploy, b.Health)
	}
	// Covered: 100-2300 (both deploys, app1's check inside) and 2500-3000.
	if want := 2700 * time.Millisecond; b.Waiting != want || b.Overhead != 500*time.Millisecond {
		t.Errorf("waiting %s, overhead %s; want %s and 500ms", b.Waiting, b.Overhead, want)
	}
}
