// This file holds the switch step type: its schema, decoding and review.
package steps

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Switch completes a start-first deploy: the new container runs next to the
// old one, both answering to the server's name, and nginx still sends every
// request to the old one (it resolved the name at its last reload). The
// switch detours the server to the new container's address (one reload:
// the server line marked down and a temporary `server NEW_IP:PORT;` line
// after it), waits for the requests the old one had, stops it gracefully,
// and ends the detour (one reload: the file as it was, the name now
// resolving to the new container alone). No request ever reaches a
// container that is stopping, and there is no moment without a server: the
// way to replace a single replica.
type Switch struct{}

// SwitchSpec is a decoded switch step.
type SwitchSpec struct {
	Nginx  *dsl.Nginx
	Server dsl.String
	// Container is the start-first deploy's container (its name, ID or
	// compose service); the old one is found through the label the deploy
	// put on the new one (dockerx.ReplacesLabel).
	Container dsl.String
	Engine    *dsl.Docker
}

var switchSchema = &hcl.BodySchema{Attributes: attrs("nginx!", "server!", "container!", "engine")}

// Name implements Type.
func (Switch) Name() string { return "switch" }

// Summary implements Type.
func (Switch) Summary() string {
	return "move a server's traffic from the old container to the new one of a start-first deploy"
}

// Schema implements Type.
func (Switch) Schema() *hcl.BodySchema { return switchSchema }

// Decode implements Type.
func (Switch) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, switchSchema)
	s := &SwitchSpec{Nginx: r.Nginx("nginx"), Server: r.String("server"), Container: r.Name("container"), Engine: r.Docker("engine")}
	r.Report(checkServer(s.Server)...)
	if s.Nginx != nil && s.Nginx.Mode.Value == dsl.NginxModeDynamic {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Switch needs the reload backend",
			Detail:   fmt.Sprintf("nginx %q has mode = \"dynamic\", whose balancer connects to each server's current address: a start-first deploy's switch (a detour to the new container's address) is not supported there yet. Set mode = \"reload\" for this nginx, or roll several replicas with drain, deploy and restore.", s.Nginx.Name),
			Subject:  r.Range("nginx").Ptr(),
		})
	}
	return s, r.Diags()
}

// DefaultTimeout bounds a switch whose step sets no timeout: two reloads,
// the wait for the old container's requests (the nginx block's
// drain_timeout) and its graceful stop (its own stop timeout, 10s by
// default; 2 minutes are allowed).
func (s *SwitchSpec) DefaultTimeout() time.Duration {
	d := 2*reloadBudget + 2*time.Minute
	if s.Nginx != nil {
		d += s.Nginx.DrainTimeout.Value
	}
	return d
}

// Describe implements dsl.Spec.
func (s *SwitchSpec) Describe() []dsl.Attribute {
	var d describer
	if s.Nginx != nil {
		d.nginx(s.Nginx)
		d.str("upstream", s.Nginx.Upstream)
	}
	d.str("server", s.Server)
	d.str("container", s.Container)
	if s.Engine != nil {
		d.add("engine", "docker."+s.Engine.Name, true, false)
	}
	return d
}

// Membership implements MembershipChanger: the server keeps serving,
// from the new container.
func (s *SwitchSpec) Membership() Membership {
	return Membership{Nginx: s.Nginx, Server: s.Server, Effect: Keeps}
}

// DockerEngine implements EngineUser.
func (s *SwitchSpec) DockerEngine() *dsl.Docker { return s.Engine }

// Completes implements StartFirstCompleter.
func (s *SwitchSpec) Completes() dsl.String { return s.Container }
