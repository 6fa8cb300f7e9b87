// This file holds what a run reports: failures classified by kind, exact
// percentiles, windows of the run and its per-second timeline.
package load

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
