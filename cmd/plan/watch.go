// This file holds `plan apply -watch`: steady traffic through the load
// balancer while the steps run, failures counted, gated and summarised.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/load"
)

// watchFlags are apply's -watch options.
type watchFlags struct {
	urls        stringList
	rate        int
	method      string
	maxFailures int
	keepAlive   bool
}

// watcher sends steady traffic through the load balancer while an apply
// runs and counts every failed request: "zero downtime" measured, not
// claimed. More failures during the steps than -watch-max-failures stops
// the apply and rolls it back.
type watcher struct {
	f     watchFlags
	runs  []*load.Run
	fail  func(error)
	mu    sync.Mutex
	begin time.Time // when the first step started: before it is the baseline
	end   time.Time
	count int
	once  sync.Once
}

// startWatch starts one load run per URL. fail is called (once) when the
// failures during the steps exceed the allowed number.
func startWatch(ctx context.Context, f watchFlags, fail func(error)) (*watcher, error) {
	w := &watcher{f: f, fail: fail}
	for _, u := range f.urls {
		o := load.NewOptions(u)
		o.Rate = f.rate
		o.Method = strings.ToUpper(f.method)
		o.KeepAlive = f.keepAlive
		// The user names their own load balancer: it may be any address.
		o.AllowRemote = true
		if o.Method == http.MethodPost {
			o.Body = []byte("nonstop watch")
			o.Header = http.Header{"Content-Type": {"text/plain"}}
		}
		r, err := load.Start(ctx, o)
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("-watch %s: %w", u, err)
		}
		w.runs = append(w.runs, r)
		go w.follow(u, r)
	}
	return w, nil
}

// follow counts the live failures of one run against the allowance.
func (w *watcher) follow(url string, r *load.Run) {
	for f := range r.Failures() {
		w.mu.Lock()
		counted := !w.begin.IsZero() && !f.Time.Before(w.begin) && (w.end.IsZero() || f.Time.Before(w.end))
		if counted {
			w.count++
		}
		over := counted && w.count > w.f.maxFailures
		n := w.count
		w.mu.Unlock()
		if over {
			w.once.Do(func() {
				w.fail(fmt.Errorf("watch %s: %d failed request(s) during the apply (last: %s %s), more than -watch-max-failures %d",
					url, n, f.Kind, strings.TrimSpace(f.Error), w.f.maxFailures))
			})
		}
	}
}

// stepsStarted marks the end of the baseline; stepsEnded the end of the
// measured window (rollback traffic is reported, not gated).
func (w *watcher) stepsStarted() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.begin.IsZero() {
		w.begin = time.Now()
		for _, r := range w.runs {
			r.Mark("steps start")
		}
	}
}

func (w *watcher) stop() {
	w.mu.Lock()
	if w.end.IsZero() {
		w.end = time.Now()
	}
	w.mu.Unlock()
	for _, r := range w.runs {
		r.Stop()
	}
}

// watchSummary is one URL's result, also written with -json.
type watchSummary struct {
	URL      string         `json:"url"`
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	ByKind   map[string]int `json:"by_kind"`
	Before   latency        `json:"before"`
	During   latency        `json:"during"`
}

type latency struct {
	Requests int     `json:"requests"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

func (w *watcher) summaries() []watchSummary {
	var out []watchSummary
	for i, r := range w.runs {
		before := r.Window(time.Time{}, w.begin)
		during := r.Window(w.begin, w.end)
		if w.begin.IsZero() {
			before, during = r.Snapshot(), load.Report{}
		}
		out = append(out, watchSummary{
			URL: w.f.urls[i], Requests: during.Requests, Failed: during.Failed, ByKind: during.ByKind,
			Before: latency{before.Requests, ms(before.P50), ms(before.P99)},
			During: latency{during.Requests, ms(during.P50), ms(during.P99)},
		})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// print writes `watch URL: N requests, F failed (kinds); p50/p99 before … during …`.
func (w *watcher) print(out io.Writer) {
	for _, s := range w.summaries() {
		kinds := ""
		if s.Failed > 0 {
			rep := load.Report{ByKind: s.ByKind}
			kinds = " (" + rep.Kinds() + ")"
		}
		fmt.Fprintf(out, "watch %s: %d requests, %d failed%s; latency p50/p99 before %.1f/%.1f ms, during %.1f/%.1f ms\n",
			s.URL, s.Requests, s.Failed, kinds, s.Before.P50ms, s.Before.P99ms, s.During.P50ms, s.During.P99ms)
	}
}
