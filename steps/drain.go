// This file holds the drain step type: its schema, decoding and review.
package steps

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Drain takes one server out of an nginx upstream without dropping a
// request: it marks the server `down`, checks and reloads nginx, then waits
// until every worker of the previous generation (which still holds in-flight
// requests to that server) has exited, bounded by drain_timeout.
type Drain struct{}

// DrainSpec is a decoded drain step.
type DrainSpec struct {
	Nginx  *dsl.Nginx
	Server dsl.String
	// DrainTimeout overrides the nginx block's drain_timeout when set.
	DrainTimeout dsl.Duration
}

var drainSchema = &hcl.BodySchema{Attributes: attrs("nginx!", "server!", "drain_timeout")}

// Name implements Type.
func (Drain) Name() string { return "drain" }

// Summary implements Type.
func (Drain) Summary() string {
	return "mark a server down in an nginx upstream, reload, wait for in-flight requests"
}

// Schema implements Type.
func (Drain) Schema() *hcl.BodySchema { return drainSchema }

// Decode implements Type.
func (Drain) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, drainSchema)
	s := &DrainSpec{Nginx: r.Nginx("nginx"), Server: r.String("server")}
	def := dsl.DefaultDrainTimeout
	if s.Nginx != nil {
		def = s.Nginx.DrainTimeout.Value
	}
	s.DrainTimeout = r.PositiveDuration("drain_timeout", def)
	r.Report(checkServer(s.Server)...)
	return s, r.Diags()
}

// DefaultTimeout is how long the drain may take in all when the step sets
// no timeout: the drain itself plus room for the check and reload.
func (s *DrainSpec) DefaultTimeout() time.Duration { return s.DrainTimeout.Value + reloadBudget }

// Describe implements dsl.Spec.
func (s *DrainSpec) Describe() []dsl.Attribute {
	var d describer
	if s.Nginx != nil {
		d.nginx(s.Nginx)
		d.str("upstream", s.Nginx.Upstream)
	}
	d.str("server", s.Server)
	d.add("drain_timeout", s.DrainTimeout.Value.String(), true, false)
	return d
}

// Membership implements MembershipChanger.
func (s *DrainSpec) Membership() Membership {
	return Membership{Nginx: s.Nginx, Server: s.Server, Effect: TakesOut}
}
