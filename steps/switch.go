// This file holds the switch step type: its schema, decoding and review.
package steps

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Switch completes a start-first deploy: the new container runs next to the
// old one, both answering to the server's name, and nginx still sends every
// request to the old one (it resolved the name at its last reload, or the
// reload-free backend holds the old address). The switch detours the
// server to the new container's address, waits for the requests the old
// one had, stops it gracefully, and ends the detour (the name now
// resolving to the new container alone). With the reload backend each of
// the two changes is one reload (the server line marked down and a
// temporary `server NEW_IP:PORT;` line after it, then the file as it was);
// with mode = "dynamic" each is one state write the Lua balancer takes up
// without a reload (the server down and an extra peer at the new address),
// and the wait counts the old address's requests. No request ever reaches
// a container that is stopping, and there is no moment without a server:
// the way to replace a single replica.
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
	return s, r.Diags()
}

// DefaultTimeout bounds a switch whose step sets no timeout: two
// membership changes (reloads, or state writes and their acks),
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
