// This file reads what plan-apply leaves: the -json stream's step events
// and the debug log's timings, into the breakdown of an apply's wall time.
package bench

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// event is a step event of `plan apply -json`, read from its message (see
// parseEvent).
type event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Step    string    `json:"step"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Elapsed float64   `json:"elapsed_s"`
}

// ApplyBreakdown splits plan-apply's wall time into waiting (on nginx's old
// workers to drain, on the Docker engine to stop the old container and start
// the new one, on the new version to pass its health check), nginx's own
// fixed costs (`nginx -t`, and each reload, which nginx makes last at least
// 100 ms), and the rest, which is the tool's own overhead.
type ApplyBreakdown struct {
	Wall time.Duration `json:"wall_ns"`
	// Startup is from exec to the first step starting: process start, HCL
	// decoding, lock, journal, preflight (Docker inspections, `nginx -t`).
	Startup time.Duration `json:"startup_ns"`
	// Finish is from the last step's end to the process exit: finalize
	// (removing the old containers) and the summary.
	Finish time.Duration `json:"finish_ns"`
	// Steps is the total elapsed time per step type.
	Steps map[string]time.Duration `json:"steps_ns"`
	// DrainWait is from each drain's reload until the old workers exited
	// ("drained X in T" notes).
	DrainWait time.Duration `json:"drain_wait_ns"`
	// Deploy is the deploy steps (rename, create, graceful stop, start).
	Deploy time.Duration `json:"deploy_ns"`
	// Health is the health_check steps (until healthy_threshold passes).
	Health time.Duration `json:"health_ns"`
	// Waiting is the wall time covered by drain waits, deploys and
	// health checks: their sum when they run one after another, less when
	// a batch runs several at once (each instant counted once, so
	// Overhead = Wall - Waiting never goes below what was not waited).
	Waiting  time.Duration `json:"waiting_ns"`
	Overhead time.Duration `json:"overhead_ns"`
	// From the operator log (-log-level debug): time in `nginx -t` (the
	// preflight's and each change's), and in reloads until the new worker
	// generation was confirmed (all of them; a drain's is also inside its
	// DrainWait).
	NginxTest   time.Duration `json:"nginx_test_ns"`
	NginxReload time.Duration `json:"nginx_reload_ns"`
	// Nginx is the part of Overhead that is nginx's work, not the tool's:
	// NginxTest plus the reloads outside drains (restores, weights).
	Nginx time.Duration `json:"nginx_ns"`
	// Own = Overhead - Nginx: start-up, preflight's Docker inspections,
	// journal and lock, the gaps between steps, finalize. What Nonstop
	// itself adds.
	Own time.Duration `json:"own_ns"`
	// CPU is the plan process's user + system CPU time.
	CPU time.Duration `json:"cpu_ns"`
	// Events are the apply's step events, for plots and evidence.
	Events []event `json:"-"`
}

var (
	drainedRE = regexp.MustCompile(`^drained \S+ in (\S+)$`)
	tookRE    = regexp.MustCompile(`took=(\S+)`)
	opRE      = regexp.MustCompile(`\bop=(\S+)`)
	stepRE    = regexp.MustCompile(`^step\.([a-z_]+)\.(.+)$|^rollout\.[^[]+\["([^"]+)"\]\.([a-z_]+)$`)
)

// shortStep makes "step.drain.app2" and `rollout.apps["app2"].drain` read
// "drain app2".
func shortStep(addr string) string {
	m := stepRE.FindStringSubmatch(addr)
	switch {
	case m == nil:
		return addr
	case m[1] != "":
		return m[1] + " " + m[2]
	default:
		return m[4] + " " + m[3]
	}
}

func stepType(addr string) string {
	s := shortStep(addr)
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return addr
}

// uiMessage is a line of the -json stream (Terraform's machine-readable
// UI, docs/cli.md): the fields the breakdown reads.
type uiMessage struct {
	Timestamp string `json:"@timestamp"`
	Type      string `json:"type"`
	Hook      *struct {
		Step    string  `json:"step"`
		Status  string  `json:"status"`
		Note    string  `json:"note"`
		Elapsed float64 `json:"elapsed_seconds"`
	} `json:"hook"`
}

// parseEvent turns a step's message into an event: one with a status
// (apply_start, apply_complete, apply_errored, rollback_*) is a "step"
// event, a progress note a "note" one; other messages are not events.
func parseEvent(line []byte) (event, bool) {
	var m uiMessage
	if json.Unmarshal(line, &m) != nil || m.Hook == nil || m.Hook.Step == "" {
		return event{}, false
	}
	at, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m.Timestamp)
	if err != nil {
		return event{}, false
	}
	e := event{Time: at, Step: m.Hook.Step, Status: m.Hook.Status, Elapsed: m.Hook.Elapsed}
	switch {
	case m.Hook.Status != "":
		e.Type = "step"
	case m.Type == "apply_progress" || m.Type == "rollback_progress":
		e.Type, e.Message = "note", m.Hook.Note
	default:
		return event{}, false
	}
	return e, true
}

// analyze computes the breakdown from the -json events and the debug log.
func analyze(events []event, began, ended time.Time, log string) ApplyBreakdown {
	b := ApplyBreakdown{Wall: ended.Sub(began), Steps: map[string]time.Duration{}, Events: events}
	var first, last time.Time
	var waits []span
	for _, e := range events {
		switch {
		case e.Type == "step" && e.Status == "running":
			if first.IsZero() || e.Time.Before(first) {
				first = e.Time
			}
		case e.Type == "step":
			if e.Time.After(last) {
				last = e.Time
			}
			d := time.Duration(e.Elapsed * float64(time.Second))
			t := stepType(e.Step)
			b.Steps[t] += d
			switch t {
			case "deploy":
				b.Deploy += d
				waits = append(waits, span{e.Time.Add(-d), e.Time})
			case "health_check":
				b.Health += d
				waits = append(waits, span{e.Time.Add(-d), e.Time})
			}
		case e.Type == "note":
			if m := drainedRE.FindStringSubmatch(e.Message); m != nil {
				if d, err := time.ParseDuration(m[1]); err == nil {
					b.DrainWait += d
					waits = append(waits, span{e.Time.Add(-d), e.Time})
				}
			}
		}
	}
	if !first.IsZero() {
		b.Startup = first.Sub(began)
	}
	if !last.IsZero() {
		b.Finish = ended.Sub(last)
	}
	b.Waiting = covered(waits)
	b.Overhead = b.Wall - b.Waiting
	for _, line := range strings.Split(log, "\n") {
		m := tookRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		d := parseTook(m[1])
		switch {
		case strings.Contains(line, "config test passed"):
			b.NginxTest += d
		case strings.Contains(line, "reloaded, new workers live"):
			b.NginxReload += d
			if m := opRE.FindStringSubmatch(line); m == nil || !strings.Contains(m[1], "mark_down") {
				b.Nginx += d // a drain's reload (alone or with a restore) is inside its DrainWait
			}
		}
	}
	b.Nginx += b.NginxTest
	b.Own = b.Overhead - b.Nginx
	return b
}

// span is an interval of wall time.
type span struct{ from, to time.Time }

// covered is the wall time the spans cover, each instant once.
func covered(spans []span) time.Duration {
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	var total time.Duration
	var cur span
	for i, sp := range spans {
		switch {
		case i == 0:
			cur = sp
		case !sp.from.After(cur.to):
			if sp.to.After(cur.to) {
				cur.to = sp.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = sp
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// parseTook reads a log's took= value: a Go duration ("41.2ms", as plan
// logs it), or a bare number of milliseconds (as it logged before).
func parseTook(s string) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	ms, _ := strconv.ParseFloat(s, 64)
	return time.Duration(ms * float64(time.Millisecond))
}
