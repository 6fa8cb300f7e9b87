// This file holds the gate step type: its schema, decoding, review and
// the timeout arithmetic. How it runs (the probe traffic and the verdict)
// is in gate_run.go.
package steps

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Gate sends steady probe traffic through the load balancer for a while
// and fails, so that the plan rolls back, when more requests fail than
// the budget allows or the p99 latency is over a bound: a canary is
// judged on the traffic it actually serves, not on one probe.
type Gate struct{}

// Gate defaults and bounds.
const (
	DefaultGateRate = 50   // requests per second
	MaxGateRate     = 1000 // a gate observes; it is not a load test
	// gateSlack is what a gate's default timeout adds to its duration:
	// the last requests' answers and the verdict.
	gateSlack = 30 * time.Second
)

// GateSpec is a decoded gate step.
type GateSpec struct {
	// URL is where the probes go: the load balancer, on this machine or
	// one of the project's containers (load.CheckLocal).
	URL      dsl.String
	Duration dsl.Duration
	Rate     dsl.Int
	Method   dsl.String
	// MaxFailures is how many failed requests the gate tolerates; a
	// request fails when it gets no answer or one outside 200-299.
	MaxFailures dsl.Int
	// MaxErrorRate is the tolerated share of failed requests, in [0, 1].
	MaxErrorRate Float
	// MaxP99 bounds the 99th percentile latency; unset, latency is not
	// judged.
	MaxP99 dsl.Duration
}

// Float is a decoded number attribute that need not be whole.
type Float struct {
	Value float64
	Set   bool
	Range hcl.Range
}

var gateSchema = &hcl.BodySchema{Attributes: attrs("url!", "duration!", "rate", "method", "max_failures", "max_error_rate", "max_p99")}

// Name implements Type.
func (Gate) Name() string { return "gate" }

// Summary implements Type.
func (Gate) Summary() string {
	return "send probe traffic through the load balancer for a while; fail over a failure or latency budget"
}

// Schema implements Type.
func (Gate) Schema() *hcl.BodySchema { return gateSchema }

// Decode implements Type.
func (Gate) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, gateSchema)
	s := &GateSpec{
		URL:          r.String("url"),
		Duration:     r.PositiveDuration("duration", 0),
		Rate:         r.Int("rate", DefaultGateRate, 1, MaxGateRate),
		Method:       r.OneOf("method", "GET", "GET", "HEAD", "POST"),
		MaxFailures:  r.Int("max_failures", 0, 0, 1_000_000_000),
		MaxErrorRate: readFraction(r, dc, "max_error_rate"),
		MaxP99:       r.PositiveDuration("max_p99", 0),
	}
	if s.URL.Set {
		if err := checkGateURL(s.URL.Value); err != nil {
			r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid gate url",
				Detail:  fmt.Sprintf("%s. Give the load balancer's URL, such as \"http://127.0.0.1:8080/\".", err),
				Subject: s.URL.Range.Ptr()})
		}
	}
	return s, r.Diags()
}

// readFraction decodes a number in [0, 1], such as an error rate.
func readFraction(r *dsl.Reader, dc *dsl.DecodeContext, name string) Float {
	a, ok := r.Content.Attributes[name]
	if !ok {
		return Float{Range: dc.DefRange}
	}
	f := Float{Range: a.Expr.Range()}
	raw, diags := dc.Eval(a.Expr)
	r.Report(diags...)
	if diags.HasErrors() {
		return f
	}
	raw, _ = raw.Unmark()
	v, err := convert.Convert(raw, cty.Number)
	bad := func(got string) Float {
		r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", name),
			Detail:  fmt.Sprintf("%q must be a number from 0 to 1, such as 0.01 for 1%% of the requests; got %s.", name, got),
			Subject: f.Range.Ptr()})
		return f
	}
	if err != nil || v.IsNull() || !v.IsKnown() {
		return bad(raw.GoString())
	}
	x, _ := v.AsBigFloat().Float64()
	if v.AsBigFloat().Cmp(big.NewFloat(0)) < 0 || v.AsBigFloat().Cmp(big.NewFloat(1)) > 0 {
		return bad(v.AsBigFloat().Text('g', 10))
	}
	f.Value, f.Set = x, true
	return f
}

// DefaultTimeout implements Spec: the gate's duration and some slack for
// the answers in flight.
func (s *GateSpec) DefaultTimeout() time.Duration { return s.Duration.Value + gateSlack }

// Describe implements dsl.Spec.
func (s *GateSpec) Describe() []dsl.Attribute {
	var d describer
	d.str("url", s.URL)
	d.add("probes", fmt.Sprintf("%s at %d/s for %s", s.Method.Value, s.Rate.Value, s.Duration.Value), true, false)
	d.add("max_failures", fmt.Sprint(s.MaxFailures.Value), !s.MaxErrorRate.Set || s.MaxFailures.Set, false)
	d.add("max_error_rate", fmt.Sprint(s.MaxErrorRate.Value), s.MaxErrorRate.Set, false)
	d.add("max_p99", s.MaxP99.Value.String(), s.MaxP99.Set, false)
	return d
}

// ChangesNothing implements ChangesNothing: a gate only observes.
func (*GateSpec) ChangesNothing() {}

// CheckTimeout implements TimeoutChecker: the gate sends probes for its
// whole duration, so a timeout not longer than that cuts it short every
// time.
func (s *GateSpec) CheckTimeout(timeout time.Duration, set bool, at hcl.Range) hcl.Diagnostics {
	if timeout > s.Duration.Value {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Gate cannot pass within its timeout",
		Detail: fmt.Sprintf("The gate sends probes for duration = %s (set at %s), and the step's timeout = %s is not longer: it would always be cut short. Raise the timeout above %s (or leave it out: the default is the duration + %s).",
			s.Duration.Value, s.Duration.Range, timeout, s.Duration.Value, gateSlack),
		Subject: at.Ptr(),
	}}
}
