// This file holds what a plan changes, as lock targets: the nginx configs
// and the containers its steps name. Two plans that share one cannot apply
// at once (executor.LockTargets).
package runner

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Targets names what a plan changes: every nginx config it declares (by
// its real path when the file is on this machine, else by engine,
// container and path), and every container a step names (the `container`
// attribute its Describe lists), within its Compose project and engine.
// Over-locking is harmless (two plans wait for each other); under-locking
// is not, so a name seen anywhere counts. A container named by its Compose
// service in one plan and by its full name in another is two names here;
// the nginx config they share still serializes such plans.
func Targets(p *dsl.Plan) []string {
	var out []string
	for _, n := range p.Nginx {
		cfg := n.Config.Value
		if real, err := filepath.EvalSymlinks(cfg); err == nil {
			if _, err := os.Stat(real); err == nil {
				out = append(out, "nginx config "+real)
				continue
			}
		}
		host := ""
		if n.Docker != nil {
			host = n.Docker.Host.Value
		}
		out = append(out, "nginx config "+cfg+" in container "+n.Container.Value+" on "+engineName(host))
	}
	// A container is known by its name within a Compose project on an
	// engine: "app1" of two projects are two containers. Which docker block
	// a step uses is the step type's business, so a name counts under every
	// block the plan declares (or the default engine without one).
	scopes := []string{" on " + engineName("")}
	if len(p.Docker) > 0 {
		scopes = nil
		for _, d := range p.Docker {
			sc := " on " + engineName(d.Host.Value)
			if d.ComposeProject.Value != "" {
				sc = " in compose project " + d.ComposeProject.Value + sc
			}
			scopes = append(scopes, sc)
		}
	}
	for _, s := range p.Steps {
		for _, a := range s.Spec.Describe() {
			if a.Name != "container" || a.Sensitive {
				continue
			}
			name, err := strconv.Unquote(a.Value)
			if err != nil {
				name = a.Value
			}
			for _, sc := range scopes {
				out = append(out, "container "+name+sc)
			}
		}
	}
	return out
}

func engineName(host string) string {
	if host == "" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return h
		}
		return "the default engine"
	}
	return host
}
