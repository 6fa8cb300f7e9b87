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
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Mark is a labelled instant on the run's timeline.
type Mark struct {
	Label string        `json:"label"`
	At    time.Duration `json:"at_ns"` // since the run's start
	Time  time.Time     `json:"time"`
}

// Second is one second of the timeline: the requests sent in
// [At, At+1s) of the run and how they ended.
type Second struct {
	At       time.Duration `json:"at_ns"`
	Requests int           `json:"requests"`
	Failed   int           `json:"failed"`
	Non2xx   int           `json:"non2xx"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
}

// Report summarises the requests of a run (or of a window of it). Requests
// are attributed to the instant they were sent.
type Report struct {
	Requests        int            `json:"requests"`
	Failed          int            `json:"failed"`           // status >= 500 + transport errors
	Non2xx          int            `json:"non2xx"`           // every answer outside 2xx, 5xx included
	TransportErrors int            `json:"transport_errors"` // no answer at all
	ByKind          map[string]int `json:"by_kind"`          // non-2xx by code, transport errors by kind
	P50             time.Duration  `json:"p50_ns"`
	P99             time.Duration  `json:"p99_ns"`
	Max             time.Duration  `json:"max_ns"`
	Timeline        []Second       `json:"timeline,omitempty"`
	Marks           []Mark         `json:"marks,omitempty"`
	// Duration is how long the run (or window) lasted.
	Duration time.Duration `json:"duration_ns"`
	// Start is when the run (or window) began.
	Start time.Time `json:"start"`
}

// Kinds returns ByKind as "502×3, reset×1", most frequent first.
func (r Report) Kinds() string {
	keys := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if r.ByKind[a] != r.ByKind[b] {
			return r.ByKind[b] - r.ByKind[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, r.ByKind[k])
	}
	return strings.Join(parts, ", ")
}

// sample is one request: 12 bytes, so a long run stays small.
type sample struct {
	off  uint32 // µs since the run's start, when sent
	lat  uint32 // µs
	code uint16
	kind uint8 // transport error kind, 0 if an answer came
}

const (
	kindNone uint8 = iota
	kindReset
	kindEOF
	kindTimeout
	kindRefused
	kindUnreachable
	kindDNS
	kindOther
)

var kindNames = [...]string{"", "reset", "eof", "timeout", "refused", "unreachable", "dns", "other"}

// Classify names a transport error string as Report.ByKind does.
func Classify(err string) string { return kindNames[classify(err)] }

func classify(err string) uint8 {
	e := strings.ToLower(err)
	switch {
	case strings.Contains(e, "connection reset"), strings.Contains(e, "broken pipe"):
		return kindReset
	case strings.Contains(e, "timeout"), strings.Contains(e, "deadline exceeded"):
		return kindTimeout
	case strings.Contains(e, "connection refused"):
		return kindRefused
	case strings.Contains(e, "no route to host"), strings.Contains(e, "network is unreachable"):
		return kindUnreachable
	case strings.Contains(e, "no such host"), strings.Contains(e, "server misbehaving"):
		return kindDNS
	case strings.HasSuffix(e, "eof"), strings.Contains(e, "server closed idle connection"),
		strings.Contains(e, "unexpected eof"):
		return kindEOF
	}
	return kindOther
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

// Window reports the requests sent in [from, to); a zero from means the
// run's start, a zero to means now (or the run's end). The timeline and the
// marks are those of the window, relative to the run's start.
func (r *Run) Window(from, to time.Time) Report {
	r.mu.Lock()
	end := r.ended
	if end.IsZero() {
		end = time.Now()
	}
	if from.IsZero() || from.Before(r.start) {
		from = r.start
	}
	if to.IsZero() || to.After(end) {
		to = end
	}
	lo := uint32(max(from.Sub(r.start), 0) / time.Microsecond)
	hi := uint32(max(to.Sub(r.start), 0) / time.Microsecond)
	var in []sample
	for _, s := range r.samples {
		if s.off >= lo && s.off < hi {
			in = append(in, s)
		}
	}
	var marks []Mark
	for _, m := range r.marks {
		if !m.Time.Before(from) && m.Time.Before(to) {
			marks = append(marks, m)
		}
	}
	r.mu.Unlock()

	rep := summarize(in)
	rep.Marks = marks
	rep.Start = from
	rep.Duration = max(to.Sub(from), 0)
	rep.Timeline = timeline(in, lo, hi)
	return rep
}

// Timeline cuts the requests sent in [from, to) (zero: the run's start,
// its end or now) into buckets of step, for plots finer than a second.
// Each Second's At is the bucket's start since the run's start.
func (r *Run) Timeline(from, to time.Time, step time.Duration) []Second {
	if step <= 0 {
		step = time.Second
	}
	r.mu.Lock()
	end := r.ended
	if end.IsZero() {
		end = time.Now()
	}
	if from.IsZero() || from.Before(r.start) {
		from = r.start
	}
	if to.IsZero() || to.After(end) {
		to = end
	}
	lo, hi := max(from.Sub(r.start), 0), max(to.Sub(r.start), 0)
	n := int((hi - lo + step - 1) / step)
	buckets := make([][]sample, max(n, 0))
	for _, s := range r.samples {
		at := time.Duration(s.off) * time.Microsecond
		if at >= lo && at < hi {
			buckets[int((at-lo)/step)] = append(buckets[int((at-lo)/step)], s)
		}
	}
	r.mu.Unlock()
	out := make([]Second, len(buckets))
	for i, b := range buckets {
		rep := summarize(b)
		out[i] = Second{At: lo + time.Duration(i)*step, Requests: rep.Requests, Failed: rep.Failed,
			Non2xx: rep.Non2xx, P50: rep.P50, P99: rep.P99}
	}
	return out
}

// summarize counts samples and computes exact (nearest-rank) percentiles.
func summarize(in []sample) Report {
	rep := Report{Requests: len(in), ByKind: map[string]int{}}
	lats := make([]uint32, len(in))
	for i, s := range in {
		lats[i] = s.lat
		switch {
		case s.kind != kindNone:
			rep.TransportErrors++
			rep.Failed++
			rep.ByKind[kindNames[s.kind]]++
		case s.code < 200 || s.code > 299:
			rep.Non2xx++
			rep.ByKind[strconv.Itoa(int(s.code))]++
			if s.code >= 500 {
				rep.Failed++
			}
		}
	}
	slices.Sort(lats)
	rep.P50 = pct(lats, 50)
	rep.P99 = pct(lats, 99)
	if n := len(lats); n > 0 {
		rep.Max = time.Duration(lats[n-1]) * time.Microsecond
	}
	return rep
}

func pct(sorted []uint32, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := (p*n + 99) / 100 // nearest rank: ceil(p/100 * n)
	i = min(max(i, 1), n)
	return time.Duration(sorted[i-1]) * time.Microsecond
}

// timeline cuts samples (sent in [lo, hi) µs) into whole seconds of the run.
func timeline(in []sample, lo, hi uint32) []Second {
	if hi <= lo {
		return nil
	}
	first, last := int(lo/1e6), int((hi-1)/1e6)
	buckets := make([][]sample, last-first+1)
	for _, s := range in {
		i := int(s.off/1e6) - first
		buckets[i] = append(buckets[i], s)
	}
	out := make([]Second, len(buckets))
	for i, b := range buckets {
		rep := summarize(b)
		out[i] = Second{At: time.Duration(first+i) * time.Second, Requests: rep.Requests, Failed: rep.Failed,
			Non2xx: rep.Non2xx, P50: rep.P50, P99: rep.P99}
	}
	return out
}

// CheckLocal returns nil when every address host resolves to is on this
// machine: loopback, an address of one of its own interfaces, or an address
// inside the subnet of a Docker bridge (docker0, br-*), where the only hosts
// are containers of this machine.
func CheckLocal(ctx context.Context, host string) error {
	if host == "" {
		return errors.New("load: URL has no host")
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
		if err != nil {
			return fmt.Errorf("load: resolving %s: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	ifaces, _ := net.Interfaces()
	local := func(ip net.IP) bool {
		if ip.IsLoopback() {
			return true
		}
		for _, ifc := range ifaces {
			bridge := ifc.Name == "docker0" || strings.HasPrefix(ifc.Name, "br-")
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				n, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				if n.IP.Equal(ip) || (bridge && n.Contains(ip)) {
					return true
				}
			}
		}
		return false
	}
	for _, ip := range ips {
		if !local(ip) {
			return fmt.Errorf("load: %s (%s) is not an address of this machine or of a container on its Docker bridges; load is only sent to this machine", host, ip)
		}
	}
	return nil
}

// rotatingClient is the attacker's client without keep-alive to a loopback
// address: each connection comes from the next of 65,000 source addresses
// in 127.1.0.0/16. A new connection per request at thousands per second
// leaves each closed one in TIME_WAIT for a minute on this side, and one
// source address has only ~28,000 ports: a few seconds of load, and the
// next procedure of a benchmark, would fail with "bind: address already in
// use", a failure of the load generator and not of what is measured. It
// mirrors the options Start gives vegeta otherwise: no proxy, no HTTP/2,
// no redirects, the timeout.
func rotatingClient(o Options) *http.Client {
	var n atomic.Uint32
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: -1}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		k := n.Add(1)%65000 + 1
		dd := *d
		dd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 1, byte(k>>8), byte(k))}
		return dd.DialContext(ctx, network, addr)
	}
	return &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dial,
			DisableKeepAlives:   true,
			MaxIdleConnsPerHost: max(o.Workers, 16),
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
