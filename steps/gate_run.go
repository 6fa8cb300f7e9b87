// This file runs the gate step: probe traffic through the load balancer
// for the gate's duration (internal/load, as `plan apply -watch` sends it),
// then a verdict against the budget, in words the summary shows as is.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/nonstop-deploy/nonstop/dsl"
	probe "github.com/nonstop-deploy/nonstop/internal/load"
)

// gateRequestTimeout bounds one probe: a probe that takes longer is a
// failure ("timeout"), and a gate cut short waits no longer than this.
const gateRequestTimeout = 5 * time.Second

// checkGateURL checks what can be checked without the network. The
// error never repeats the URL, which may be sensitive.
func checkGateURL(raw string) error {
	u, err := neturl.Parse(raw)
	switch {
	case err != nil:
		return errors.New("the url does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("the url must start with http:// or https://")
	case u.Hostname() == "":
		return errors.New("the url has no host")
	}
	return nil
}

// Preflight implements Spec: the URL is on this machine (loopback, one of
// its addresses, or a container of a Docker bridge). A gate sends
// sustained traffic: it must never be pointed at someone else's host.
func (s *GateSpec) Preflight(ctx context.Context, env *Env) []error {
	if err := s.checkTarget(ctx); err != nil {
		return []error{dsl.At(err, "Gate target not allowed", s.URL.Range)}
	}
	return nil
}

func (s *GateSpec) checkTarget(ctx context.Context) error {
	if err := checkGateURL(s.URL.Value); err != nil {
		return err
	}
	u, _ := neturl.Parse(s.URL.Value)
	if err := probe.CheckLocal(ctx, u.Hostname()); err != nil {
		if s.URL.Sensitive {
			// The resolver's error names the host.
			return errors.New("a gate probes only this machine (loopback, its own addresses, or the project's containers on a Docker bridge), and the url (sensitive) is not")
		}
		return fmt.Errorf("a gate probes only this machine (loopback, its own addresses, or the project's containers on a Docker bridge), and %s is not: %w", shown(s.URL), err)
	}
	return nil
}

// Apply implements Spec: probes at the gate's rate for its duration, then
// the verdict. Cancelling ctx (Ctrl-C, the step's timeout) stops the
// probes at once and fails the step.
func (s *GateSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	if err := s.checkTarget(ctx); err != nil {
		return nil, dsl.At(err, "Gate target not allowed", s.URL.Range)
	}
	o := probe.NewOptions(s.URL.Value)
	o.Method = s.Method.Value
	o.Rate = s.Rate.Value
	o.Workers = 4
	o.Timeout = gateRequestTimeout
	// A hard bound whatever happens to ctx: the duration and one request.
	o.MaxDuration = s.Duration.Value + gateRequestTimeout
	if o.Method == http.MethodPost {
		o.Body = []byte("nonstop gate")
		o.Header = http.Header{"Content-Type": {"text/plain"}}
	}
	run, err := probe.Start(ctx, o)
	if err != nil {
		return nil, dsl.At(err, "Gate could not start", s.URL.Range)
	}
	timer := time.NewTimer(s.Duration.Value)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		// Stop waits for the probes in flight; the step does not.
		go run.Stop()
		rep := run.Snapshot()
		return nil, fmt.Errorf("gate cut short after %s (%d requests, %d failed): %w",
			rep.Duration.Round(time.Millisecond), rep.Requests, gateFailures(rep), context.Cause(ctx))
	case <-timer.C:
	}
	rep := run.Stop()
	if err := s.budget().verdict(rep); err != nil {
		return nil, dsl.At(err, "Gate failed", s.URL.Range)
	}
	note(fmt.Sprintf("passed: %d requests, %d failed, p99 %s", rep.Requests, gateFailures(rep), rep.P99.Round(100*time.Microsecond)))
	return json.RawMessage(`{}`), nil
}

// Undo implements Type: a gate changes nothing.
func (Gate) Undo(ctx context.Context, env *Env, rec json.RawMessage, note func(string)) error {
	return nil
}

// gateBudget is what a gate tolerates.
type gateBudget struct {
	// MaxFailures applies when set, or when no error rate is set (its
	// default, 0, then means "no failure at all").
	MaxFailures    int
	HasMaxFailures bool
	MaxErrorRate   float64
	HasErrorRate   bool
	MaxP99         time.Duration // 0: latency is not judged
}

func (s *GateSpec) budget() gateBudget {
	return gateBudget{
		MaxFailures:    s.MaxFailures.Value,
		HasMaxFailures: s.MaxFailures.Set || !s.MaxErrorRate.Set,
		MaxErrorRate:   s.MaxErrorRate.Value,
		HasErrorRate:   s.MaxErrorRate.Set,
		MaxP99:         s.MaxP99.Value,
	}
}

// gateFailures counts the failed requests of a report: no answer, or an
// answer outside 200-299 (redirects are not followed).
func gateFailures(rep probe.Report) int { return rep.TransportErrors + rep.Non2xx }

// verdict judges a run's report against the budget: nil when it passes,
// else an error naming the numbers, every exceeded bound.
func (b gateBudget) verdict(rep probe.Report) error {
	if rep.Requests == 0 {
		return fmt.Errorf("gate failed: no probe was answered in %s", rep.Duration.Round(time.Millisecond))
	}
	failed := gateFailures(rep)
	rate := float64(failed) / float64(rep.Requests)
	kinds := ""
	if failed > 0 {
		kinds = " (" + rep.Kinds() + ")"
	}
	var over []string
	if b.HasMaxFailures && failed > b.MaxFailures {
		over = append(over, fmt.Sprintf("%d of %d requests failed%s, budget %d", failed, rep.Requests, kinds, b.MaxFailures))
	}
	if b.HasErrorRate && rate > b.MaxErrorRate {
		over = append(over, fmt.Sprintf("error rate %s (%d of %d requests%s), over max_error_rate %s",
			percent(rate), failed, rep.Requests, kinds, percent(b.MaxErrorRate)))
	}
	if b.MaxP99 > 0 && rep.P99 > b.MaxP99 {
		over = append(over, fmt.Sprintf("p99 latency %s over max_p99 %s (%d requests)", rep.P99.Round(100*time.Microsecond), b.MaxP99, rep.Requests))
	}
	if len(over) == 0 {
		return nil
	}
	return errors.New("gate failed: " + strings.Join(over, "; "))
}

func percent(x float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", 100*x), "0"), ".") + "%"
}
