// Package load drives bounded HTTP load at one URL and counts every failure,
// the way the zero-downtime benchmark (cmd/plan-bench) and `plan apply
// -watch` count them:
//
//   - a failure is an answer with status >= 500, or any transport error
//     (connection reset, EOF, timeout, refused, ...);
//   - Non2xx counts every answer outside 200-299 (5xx included);
//   - ByKind breaks both down: "502", "503", "404", ... by status code, and
//     "reset", "eof", "timeout", "refused", "unreachable", "dns", "other" for
//     transport errors.
//
// Requests are sent by tsenart/vegeta's Attacker (HTTP/1.1, no proxy, keep-alive
// on or off, per-request timeout) either open loop (Options.Rate requests per
// second, vegeta adding workers when answers are slow) or closed loop (Rate 0:
// Options.Workers clients, each sending its next request as soon as its last
// answer came, as wrk does). Every result is kept (12 bytes each), so
// percentiles are exact and any time window can be summarised afterwards
// (Run.Window); vegeta's own Metrics estimate quantiles with a t-digest over the
// whole attack and cannot be cut into windows, so they are not used.
//
// Note on GET: Go's HTTP client, like browsers, silently retries an idempotent
// request whose reused keep-alive connection the server closed before
// answering; a POST is not retried. So keep-alive GET load hides the idle
// connections nginx closes on a reload, and keep-alive POST load shows them.
//
// Targets are restricted to this machine: every address the URL's host
// resolves to must be loopback, an address of one of this machine's own
// interfaces, or inside a Docker bridge's subnet (docker0, br-*: the
// project's containers), unless Options.AllowRemote is set (see CheckLocal).
package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Options configures a load run. Use NewOptions for the defaults; a zero
// field gets its default in Start too, except KeepAlive (false means a new
// connection per request).
type Options struct {
	// URL is where requests go: loopback or a project container (see the
	// package doc), unless AllowRemote.
	URL string
	// Method is GET (default) or POST (or any other method).
	Method string
	// Body is sent with every request (POST load).
	Body []byte
	// Header is added to every request (e.g. Content-Type for a POST).
	Header http.Header
	// Rate is requests per second (open loop). 0 is closed loop: Workers
	// clients each sending as soon as the last answer came.
	Rate int
	// Workers is the number of concurrent clients in closed loop, and the
	// initial number of workers in open loop; default 4.
	Workers int
	// KeepAlive reuses connections; false opens a new connection per request
	// (and sends Connection: close). NewOptions sets it to true.
	KeepAlive bool
	// Timeout bounds one request, answer body included; default 10s.
	Timeout time.Duration
	// MaxDuration is a hard bound on the run, whatever the caller does;
	// default 10m.
	MaxDuration time.Duration
	// AllowRemote lifts the restriction to addresses of this machine, for
	// watching a real load balancer in production. Tests and benchmarks must
	// not set it.
	AllowRemote bool
}

// NewOptions returns the defaults for url: GET, closed loop with 4 workers,
// keep-alive, 10s per request, at most 10 minutes.
func NewOptions(url string) Options {
	return Options{URL: url, Method: http.MethodGet, Workers: 4, KeepAlive: true, Timeout: 10 * time.Second, MaxDuration: 10 * time.Minute}
}

// Failure is one failed request, as sent on Run.Failures.
type Failure struct {
	Time    time.Time     // when the request was sent
	At      time.Duration // Time relative to the run's start
	Latency time.Duration
	Kind    string // "502", "reset", "eof", "timeout", ...
	Status  int    // 0 for a transport error
	Error   string // the transport error, or the status line
}

// Run is a load run in progress. Its methods are safe for concurrent use.
type Run struct {
	o     Options
	atk   *vegeta.Attacker
	start time.Time

	mu      sync.Mutex
	samples []sample
	marks   []Mark
	ended   time.Time // zero while running

	failures chan Failure
	done     chan struct{}
	stopOnce sync.Once
	stopCtx  func() bool
}

// Start validates o, fills in its defaults and starts sending. The run
// ends at Stop, when ctx is done, or after o.MaxDuration, whichever is first;
// Stop must be called in every case to get the report and free resources.
func Start(ctx context.Context, o Options) (*Run, error) {
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 10 * time.Minute
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("load: rate %d", o.Rate)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("load: %s: want an http:// or https:// URL", o.URL)
	}
	if !o.AllowRemote {
		if err := CheckLocal(ctx, u.Hostname()); err != nil {
			return nil, err
		}
	}

	maxWorkers := uint64(o.Workers)
	pace := vegeta.Rate{Freq: 0, Per: time.Second} // closed loop: as fast as answers come
	if o.Rate > 0 {
		pace = vegeta.Rate{Freq: o.Rate, Per: time.Second}
		// Open loop keeps the rate when answers are slow by adding workers:
		// as many as can be waiting out a timeout, bounded.
		maxWorkers = max(maxWorkers, min(uint64(o.Rate)*uint64(o.Timeout/time.Second+1), 5000))
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Workers(uint64(o.Workers)),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.KeepAlive(o.KeepAlive),
		vegeta.Connections(max(o.Workers, 16)),
		vegeta.Timeout(o.Timeout),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
	}
	if ip := net.ParseIP(u.Hostname()); !o.KeepAlive && ip != nil && ip.To4() != nil && ip.IsLoopback() {
		opts = append(opts, vegeta.Client(rotatingClient(o)))
	}
	atk := vegeta.NewAttacker(opts...)
	tgt := vegeta.Target{Method: o.Method, URL: o.URL, Body: o.Body, Header: o.Header.Clone()}
	r := &Run{
		o:        o,
		atk:      atk,
		failures: make(chan Failure, 1024),
		done:     make(chan struct{}),
	}
	r.start = time.Now()
	results := atk.Attack(vegeta.NewStaticTargeter(tgt), pace, o.MaxDuration, "")
	r.stopCtx = context.AfterFunc(ctx, func() { atk.Stop() })
	go r.collect(results)
	return r, nil
}

func (r *Run) collect(results <-chan *vegeta.Result) {
	defer close(r.done)
	defer close(r.failures)
	for res := range results {
		s := sample{code: res.Code}
		off := res.Timestamp.Sub(r.start)
		s.off = uint32(max(off, 0) / time.Microsecond)
		s.lat = uint32(min(res.Latency/time.Microsecond, 1<<32-1))
		if res.Code == 0 {
			s.kind = classify(res.Error)
			if s.kind == kindNone {
				s.kind = kindOther
			}
		}
		r.mu.Lock()
		r.samples = append(r.samples, s)
		r.mu.Unlock()
		if s.kind != kindNone || s.code >= 500 {
			f := Failure{Time: res.Timestamp, At: off, Latency: res.Latency, Status: int(res.Code), Error: res.Error}
			f.Kind = kindOf(s)
			select {
			case r.failures <- f:
			default: // the reader is behind: the failure is still counted
			}
		}
	}
	r.mu.Lock()
	r.ended = time.Now()
	r.mu.Unlock()
}

func kindOf(s sample) string {
	if s.kind != kindNone {
		return kindNames[s.kind]
	}
	return strconv.Itoa(int(s.code))
}

// Failures is a live feed of failed requests, in the order their answers
// came; it is closed when the run has ended. It holds up to 1024 failures:
// when the reader falls behind, further ones are left out of the feed (they
// are still counted in every Report). Reading it is optional.
func (r *Run) Failures() <-chan Failure { return r.failures }

// Mark records a labelled instant on the timeline (e.g. "step.drain.app2
// start"); it appears in every later Report.
func (r *Run) Mark(label string) { r.MarkAt(label, time.Now()) }

// MarkAt records a labelled instant that happened at t (e.g. the time
// stamped on a `plan apply -json` event).
func (r *Run) MarkAt(label string, t time.Time) {
	r.mu.Lock()
	r.marks = append(r.marks, Mark{Label: label, At: t.Sub(r.start), Time: t})
	slices.SortStableFunc(r.marks, func(a, b Mark) int { return a.Time.Compare(b.Time) })
	r.mu.Unlock()
}

// Start is when the run began.
func (r *Run) Start() time.Time { return r.start }

// Snapshot reports the requests answered so far; the run goes on.
func (r *Run) Snapshot() Report {
	return r.Window(time.Time{}, time.Time{})
}

// Stop ends the run: no new request is sent, the ones in flight are waited
// for (each bounded by Options.Timeout), and the final report is returned.
// Calling it again returns the same report.
func (r *Run) Stop() Report {
	r.stopOnce.Do(func() {
		r.atk.Stop()
		r.stopCtx()
	})
	<-r.done
	return r.Snapshot()
}

// Done is closed when the run has ended (Stop, ctx, or MaxDuration) and every
// request in flight has been answered or has failed.
func (r *Run) Done() <-chan struct{} { return r.done }
