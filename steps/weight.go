// This file holds the weight step type: its schema, decoding and review.
package steps

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Weight sets the weight of one server in an nginx upstream: the primitive
// of a canary (send a new version a small share of traffic, then more).
// Unlike drain it waits for nothing: both servers keep serving, only the
// share changes, from the next reload on.
type Weight struct{}

// WeightSpec is a decoded weight step.
type WeightSpec struct {
	Nginx  *dsl.Nginx
	Server dsl.String
	// Weight is nginx's `weight=N`; 1 is nginx's default and removes the
	// parameter, so setting 1 on a server that had none changes nothing.
	Weight dsl.Int
}

var weightSchema = &hcl.BodySchema{Attributes: attrs("nginx!", "server!", "weight!")}

// Name implements Type.
func (Weight) Name() string { return "weight" }

// Summary implements Type.
func (Weight) Summary() string {
	return "set a server's weight in an nginx upstream (canary traffic shares)"
}

// Schema implements Type.
func (Weight) Schema() *hcl.BodySchema { return weightSchema }

// Decode implements Type.
func (Weight) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, weightSchema)
	s := &WeightSpec{Nginx: r.Nginx("nginx"), Server: r.String("server"), Weight: r.Int("weight", 1, 1, 1000)}
	r.Report(checkServer(s.Server)...)
	return s, r.Diags()
}

// DefaultTimeout bounds a weight change whose step sets no timeout.
func (s *WeightSpec) DefaultTimeout() time.Duration { return reloadBudget }

// nginxWeight is the weight to write: nginx's default, 1, is written as no
// weight parameter at all.
func (s *WeightSpec) nginxWeight() int {
	if s.Weight.Value == 1 {
		return 0
	}
	return s.Weight.Value
}

// Describe implements dsl.Spec.
func (s *WeightSpec) Describe() []dsl.Attribute {
	var d describer
	if s.Nginx != nil {
		d.nginx(s.Nginx)
		d.str("upstream", s.Nginx.Upstream)
	}
	d.str("server", s.Server)
	d.add("weight", fmt.Sprint(s.Weight.Value), true, false)
	return d
}

// Membership implements MembershipChanger.
func (s *WeightSpec) Membership() Membership {
	return Membership{Nginx: s.Nginx, Server: s.Server, Effect: Keeps}
}
