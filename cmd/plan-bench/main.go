// Command plan-bench measures how many requests a rolling update loses, for
// Nonstop and for the baselines the seed describes. It builds the offline
// images and the plan binary, and for every topology (the seed's two apps,
// and four), load scenario (GET and POST, keep-alive on and off, and
// 5-second requests in flight) and procedure (plan-apply, seed-runbook,
// naive-recreate, reload-control) it starts a fresh topology, drives load
// through nginx, runs the procedure, and counts what the load saw.
//
//	go run ./cmd/plan-bench -quick -json   # the CI subset, JSON on stdout (< 5 min)
//	go run ./cmd/plan-bench                # everything; writes docs/benchmarks.md and docs/benchmarks/*.png
//	go run ./cmd/plan-bench -from docs/benchmarks/results.json   # redo the docs from saved results
//
// Progress goes to stderr; with -json, stdout holds only
//
//	{"results": [{"procedure": "...", "scenario": "...", "requests": N, "failed": N,
//	  "non2xx": N, "transport_errors": N, "p50_ms": x, "p99_ms": x, "duration_s": x}, ...]}
//
// where the counts cover the whole load run (before, during and after the
// procedure), p50/p99 are the latencies of requests sent while the
// procedure ran, and duration_s is the procedure's wall time. Scenarios are
// named TOPOLOGY/LOAD, e.g. "seed/post-keepalive".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/bench"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	quick, asJSON        bool
	docs, from, save     string
	procs, scens, topos  string
	before, after, sleep time.Duration
	workers              int
	repeat               int
	planBin              string
	keepOutput           bool
	primitives           int
	planLabel            string
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("plan-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "the CI subset: the seed's topology, POST keep-alive and 5-second in-flight loads; writes no docs")
	fs.BoolVar(&o.asJSON, "json", false, "print the results as JSON on stdout")
	fs.StringVar(&o.docs, "docs", "", "write the benchmark section of DIR/benchmarks.md and DIR/benchmarks/*.png (default docs/ of the repository without -quick; \"-\" for none)")
	fs.StringVar(&o.from, "from", "", "do not measure: render the docs from a results.json saved by an earlier run")
	fs.StringVar(&o.procs, "procedures", "", "comma-separated procedures (default all: "+strings.Join(bench.Procedures, ",")+"; opt-in: "+strings.Join(optIn, ",")+")")
	fs.StringVar(&o.scens, "scenarios", "", "comma-separated load scenarios (default all, or the quick subset)")
	fs.StringVar(&o.topos, "topologies", "", "comma-separated topologies: seed, 4-replicas (default both, or seed with -quick), or the opt-in ones: seed-keepalive (upstream keepalive), 12-replicas-batch-1, 12-replicas-batch-3")
	fs.DurationVar(&o.before, "before", 0, "load before each procedure (default 3s, 5s without -quick)")
	fs.DurationVar(&o.after, "after", 0, "load after each procedure (default 3s)")
	fs.DurationVar(&o.sleep, "runbook-sleep", 2*time.Second, "each fixed sleep of the seed's runbook")
	fs.IntVar(&o.workers, "workers", 4, "closed-loop clients")
	fs.BoolVar(&o.keepOutput, "keep-output", false, "keep plan's output (events and debug log) in every result of -save")
	fs.StringVar(&o.save, "save", "", "also save every result, in full, to this file (default DIR/benchmarks/results.json when writing docs)")
	fs.IntVar(&o.primitives, "primitives", -1, "time plan apply's primitives (nginx -t, docker top, Replace, ...) this many times each (default 9 without -quick, 0 with)")
	fs.StringVar(&o.planLabel, "plan-label", "", "what -plan-bin was built from, for the docs (e.g. a commit)")
	fs.StringVar(&o.planBin, "plan-bin", "", "use this plan binary instead of building ./cmd/plan")
	fs.IntVar(&o.repeat, "repeat", 0, "runs of each combination (default 1 with -quick, 3 without)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "plan-bench: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if err := bench0(o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "plan-bench: %v\n", err)
		return 1
	}
	return 0
}

func pick[T any](all []T, name func(T) string, list string) ([]T, error) {
	if list == "" {
		return all, nil
	}
	var out []T
	for _, n := range strings.Split(list, ",") {
		i := slices.IndexFunc(all, func(t T) bool { return name(t) == strings.TrimSpace(n) })
		if i < 0 {
			var names []string
			for _, t := range all {
				names = append(names, name(t))
			}
			return nil, fmt.Errorf("unknown %q; want one of %s", n, strings.Join(names, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

func bench0(o options, stdout, stderr io.Writer) error {
	root, err := bench.RepoRoot()
	if err != nil {
		return err
	}
	docsDir := o.docs
	if docsDir == "" && !o.quick {
		docsDir = filepath.Join(root, "docs")
	}
	if docsDir == "-" {
		docsDir = ""
	}

	var suite *bench.Suite
	if o.from != "" {
		b, err := os.ReadFile(o.from)
		if err != nil {
			return err
		}
		suite = &bench.Suite{}
		if err := json.Unmarshal(b, suite); err != nil {
			return fmt.Errorf("%s: %w", o.from, err)
		}
	} else {
		suite, err = measure(o, root, stderr)
		if err != nil && suite == nil {
			return err
		}
		if err != nil {
			fmt.Fprintf(stderr, "plan-bench: %v (reporting what was measured)\n", err)
		}
	}
	if o.save != "" {
		b, _ := json.MarshalIndent(suite, "", "  ")
		if werr := os.WriteFile(o.save, b, 0o644); werr != nil {
			return werr
		}
	}
	if o.asJSON {
		if err := writeJSON(stdout, suite); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, bench.Table(suite))
		fmt.Fprint(stdout, bench.BatchTable(suite))
	}
	if docsDir != "" {
		if err := bench.WriteDocs(suite, docsDir, o.from == ""); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "plan-bench: wrote %s and %s\n", filepath.Join(docsDir, "benchmarks.md"), filepath.Join(docsDir, "benchmarks", "*.png"))
	}
	return err
}

func measure(o options, root string, stderr io.Writer) (*bench.Suite, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	procs, err := pick(append(slices.Clone(bench.Procedures), optIn...), func(s string) string { return s }, o.procs)
	if o.procs == "" {
		procs = bench.Procedures
	}
	if err != nil {
		return nil, err
	}
	scenDefault, topoDefault := bench.AllScenarios, bench.AllTopols
	if o.quick {
		scenDefault = []bench.Scenario{bench.PostKeepAlive, bench.Inflight5s}
		topoDefault = []bench.Topology{bench.Seed}
	}
	scens, err := pick(scenDefault, func(s bench.Scenario) string { return s.Name }, o.scens)
	if o.scens != "" {
		scens, err = pick(bench.AllScenarios, func(s bench.Scenario) string { return s.Name }, o.scens)
	}
	if err != nil {
		return nil, err
	}
	topos, err := pick(topoDefault, func(t bench.Topology) string { return t.Name }, o.topos)
	if o.topos != "" {
		topos, err = pick(append(append(slices.Clone(bench.AllTopols), bench.BatchTopols...), bench.SeedKeepAlive), func(t bench.Topology) string { return t.Name }, o.topos)
	}
	if err != nil {
		return nil, err
	}
	if o.primitives < 0 {
		o.primitives = 9
		if o.quick {
			o.primitives = 0
		}
	}
	repeat := o.repeat
	if repeat <= 0 {
		repeat = 3
		if o.quick {
			repeat = 1
		}
	}
	before := o.before
	if before <= 0 {
		before = 5 * time.Second
		if o.quick {
			before = 3 * time.Second
		}
	}

	cli, err := dockerx.Connect("")
	if err != nil {
		return nil, err
	}
	defer func() { _ = cli.Close() }()
	began := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s  plan-bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	logf("building the images and the plan binary")
	if _, err := testimage.App(ctx, cli); err != nil {
		return nil, err
	}
	if _, err := testimage.Nginx(ctx, cli); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "plan-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin, label := o.planBin, o.planLabel
	if label == "" {
		label = "./cmd/plan of the working tree at " + gitHead(root)
		if bin != "" {
			label = bin
		}
	}
	if bin == "" {
		if bin, err = bench.BuildPlan(ctx, root, tmp); err != nil {
			return nil, err
		}
	}
	cfg := bench.Config{Docker: cli, PlanBin: bin, RepoRoot: root, Log: stderr,
		Before: before, After: o.after, Workers: o.workers, RunbookSleep: o.sleep, KeepOutput: o.keepOutput}
	suite := &bench.Suite{Started: began, Quick: o.quick, Plan: label, Machine: bench.DescribeMachine(ctx, cli),
		Settings: bench.Settings{Before: before, After: cfg.After, Workers: o.workers, RunbookSleep: o.sleep, Repeat: repeat}}
	if suite.Settings.After <= 0 {
		suite.Settings.After = 3 * time.Second
	}
	total := len(topos) * len(scens) * len(procs) * repeat
	n := 0
	for _, t := range topos {
		for _, sc := range scens {
			for r := 0; r < repeat; r++ {
				for _, p := range procs {
					n++
					logf("run %d/%d: %s %s/%s (repeat %d)", n, total, p, t.Name, sc.Name, r+1)
					res, err := bench.Run(ctx, cfg, t, sc, p)
					if err != nil {
						suite.Took = time.Since(began)
						return suite, fmt.Errorf("%s %s/%s: %w", p, t.Name, sc.Name, err)
					}
					suite.Results = append(suite.Results, res)
				}
			}
		}
	}
	if o.primitives > 0 {
		logf("timing plan apply's primitives")
		if suite.Primitives, err = bench.Primitives(ctx, cfg, o.primitives); err != nil {
			suite.Took = time.Since(began)
			return suite, fmt.Errorf("primitives: %w", err)
		}
	}
	suite.Took = time.Since(began)
	logf("measured %d runs in %s", total, suite.Took.Round(time.Second))
	return suite, nil
}

// jsonResult is the -json line format; keep it exactly.
type jsonResult struct {
	Procedure       string  `json:"procedure"`
	Scenario        string  `json:"scenario"`
	Requests        int     `json:"requests"`
	Failed          int     `json:"failed"`
	Non2xx          int     `json:"non2xx"`
	TransportErrors int     `json:"transport_errors"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	DurationS       float64 `json:"duration_s"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func writeJSON(w io.Writer, s *bench.Suite) error {
	out := struct {
		Results []jsonResult `json:"results"`
	}{Results: []jsonResult{}}
	for _, r := range s.Results {
		out.Results = append(out.Results, jsonResult{
			Procedure: r.Procedure, Scenario: r.Topology + "/" + r.Scenario,
			Requests: r.Total.Requests, Failed: r.Total.Failed, Non2xx: r.Total.Non2xx, TransportErrors: r.Total.TransportErrors,
			P50ms: ms(r.During.P50), P99ms: ms(r.During.P99), DurationS: math.Round(r.Wall.Seconds()*1000) / 1000,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// gitHead is the repository's HEAD commit, "+ changes" when the tree is dirty.
func gitHead(root string) string {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%h %cI").Output()
	if err != nil {
		return "(unknown commit)"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += " + uncommitted changes"
	}
	return s
}

// optIn are the procedures not in the default set: named with -procedures.
var optIn = []string{bench.BalancerControl, bench.BalancerControlProc, bench.BlueGreen, bench.PlanApplyDynamic, bench.ScaleAndSwap}
