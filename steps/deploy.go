// This file holds the deploy step type: its schema, decoding and review.
package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Deploy replaces a running container with one built from a new image or
// env, keeping everything else about it (networks and aliases, ports,
// mounts, labels, restart policy, command). The old container is stopped and
// renamed, not removed, until the whole apply succeeds, so a rollback is a
// rename and a start.
type Deploy struct{}

// DeploySpec is a decoded deploy step.
type DeploySpec struct {
	// Container is the container to replace: a name, an ID, or a Docker
	// Compose service name within the docker block's compose_project.
	Container dsl.String
	Image     dsl.String
	// Env is merged over the old container's own environment.
	Env dsl.StringMap
	// Pull is "missing" (default: pull only when the image is not present),
	// "always" or "never".
	Pull dsl.String
	// Strategy is "stop-first" (default: the old container stops, then the
	// new one starts; it must have been drained) or "start-first" (the new
	// one starts next to the old one, which keeps serving until a switch
	// step moves the traffic: for a single replica).
	Strategy dsl.String
	Engine   *dsl.Docker
}

// StartFirst reports whether the deploy leaves the old container running
// for a switch step.
func (s *DeploySpec) StartFirst() bool { return s.Strategy.Value == "start-first" }

var deploySchema = &hcl.BodySchema{Attributes: attrs("container!", "image!", "env", "pull", "strategy", "engine")}

// Name implements Type.
func (Deploy) Name() string { return "deploy" }

// Summary implements Type.
func (Deploy) Summary() string {
	return "recreate a container with a new image and env, keeping the old one for rollback"
}

// Schema implements Type.
func (Deploy) Schema() *hcl.BodySchema { return deploySchema }

// Decode implements Type.
func (Deploy) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, deploySchema)
	s := &DeploySpec{
		Container: r.Name("container"),
		Image:     r.String("image"),
		Env:       r.StringMap("env"),
		Pull:      r.OneOf("pull", "missing", "missing", "always", "never"),
		Strategy:  r.OneOf("strategy", "stop-first", "stop-first", "start-first"),
		Engine:    r.Docker("engine"),
	}
	if s.Image.Set && (s.Image.Value == "" || strings.ContainsAny(s.Image.Value, " \t\n")) {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid image reference",
			Detail:   fmt.Sprintf("%q is not an image reference. Write it as NAME[:TAG] or NAME@sha256:DIGEST, such as \"bithavoc/hello-world-env:v2\".", s.Image.Value),
			Subject:  s.Image.Range.Ptr(),
		})
	}
	for k := range s.Env.Value {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid environment variable name",
				Detail:   fmt.Sprintf("%q cannot be an environment variable name: it must be non-empty and hold no '='.", k),
				Subject:  s.Env.Range.Ptr(),
			})
		}
	}
	return s, r.Diags()
}

// DefaultTimeout bounds a deploy when the step sets no timeout: pulling,
// stopping the old container gracefully and starting the new one.
func (s *DeploySpec) DefaultTimeout() time.Duration { return 5 * time.Minute }

// Describe implements dsl.Spec.
func (s *DeploySpec) Describe() []dsl.Attribute {
	var d describer
	d.str("container", s.Container)
	d.str("image", s.Image)
	d.add("env", dsl.FormatValue(s.Env.Value), s.Env.Set, s.Env.Sensitive)
	if s.Pull.Set {
		d.str("pull", s.Pull)
	}
	if s.Strategy.Set {
		d.str("strategy", s.Strategy)
	}
	if s.Engine != nil {
		d.add("engine", "docker."+s.Engine.Name, true, false)
	}
	return d
}

// DockerEngine implements EngineUser.
func (s *DeploySpec) DockerEngine() *dsl.Docker { return s.Engine }

// Replaces implements Replacer.
func (s *DeploySpec) Replaces() Replacement {
	return Replacement{Container: s.Container, StartFirst: s.StartFirst(), Strategy: s.Strategy.Range}
}
