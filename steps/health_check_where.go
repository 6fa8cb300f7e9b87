// This file holds the health_check's preflight of where its probe goes:
// an http or tcp probe dials a container's address on its Docker network
// from the machine running plan, which reaches that address only when the
// engine runs on this machine. On another machine's engine the probe is
// refused, with the probes that work from anywhere.
package steps

import (
	"fmt"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// probeAlternatives are the probes that do not depend on where plan runs.
const probeAlternatives = "Use a probe that goes through the engine instead: " +
	"docker {} (the container's own HEALTHCHECK, read through the engine), " +
	"exec { command = [\"/app\", \"-check\"] } (a command run in the container through the engine), " +
	"or http { via_nginx = true } with nginx on this machine (pid_file) or in a container on an engine of this machine, " +
	"which probes the service through the load balancer"

// reachable refuses an http or tcp probe that would dial, from this
// machine, a container address on an engine that runs on another machine
// (see dockerx.Endpoint.Where): such a probe passes or fails because of
// where plan runs, not because of the container. The error carries the
// probe's range.
func (s *HealthCheckSpec) reachable() error {
	var (
		kind   string
		at     dsl.Int
		engine *dsl.Docker
		what   string
	)
	switch {
	case s.HTTP != nil && s.HTTP.ViaNginx.Value:
		if s.Nginx == nil || s.Nginx.Container.Value == "" {
			return nil // host nginx: 127.0.0.1, this machine (refused elsewhere when it is not)
		}
		kind, at, engine = "http", s.HTTP.Port, s.Nginx.Docker
		what = fmt.Sprintf("the nginx container %q's address on its Docker network", s.Nginx.Container.Value)
	case s.HTTP != nil:
		kind, at, engine = "http", s.HTTP.Port, s.Engine
		what = fmt.Sprintf("the container %s's address on its Docker network", shown(s.Container))
	case s.TCP != nil:
		kind, at, engine = "tcp", s.TCP.Port, s.Engine
		what = fmt.Sprintf("the container %s's address on its Docker network", shown(s.Container))
	default:
		return nil // docker {} and exec {} go through the engine
	}
	place, err := engineRef(engine).Where()
	if err != nil || place.Here {
		return nil // an engine that cannot be resolved is reported as such
	}
	return dsl.At(fmt.Errorf("the %s probe would dial %s from this machine, but %s: that address is reachable only there, so the probe would pass or fail because of where plan runs. %s",
		kind, what, place, probeAlternatives), "Probe cannot reach the container", at.Range)
}

// hostNginxElsewhere refuses nginx on the host (pid_file) whose block
// names an engine on another machine (engine = docker.NAME): plan would
// read and write this machine's config file and signal this machine's
// nginx for an nginx said to be there. The engine a lone docker block
// gives by default claims nothing: nginx here in front of apps
// published on another machine is fine.
func hostNginxElsewhere(n *dsl.Nginx) error {
	if n == nil || n.Container.Value != "" || n.Docker == nil || !n.EngineSet {
		return nil
	}
	place, err := engineRef(n.Docker).Where()
	if err != nil || place.Here {
		return nil
	}
	return dsl.At(fmt.Errorf("nginx %q runs on this machine (pid_file %s), but its engine, docker %q: %s. plan edits the config file %s and signals nginx on the machine it runs on, never another machine's nginx. "+
		"Fix: run plan on the machine that runs that nginx (with that engine reached there), or run nginx in a container on that engine (container = \"NAME\", config = the path the container sees, such as \"/etc/nginx/nginx.conf\"): plan then edits it through the engine",
		n.Name, n.PIDFile.Value, n.Docker.Name, place, n.Config.Value), "Host nginx on another machine", n.PIDFile.Range)
}
