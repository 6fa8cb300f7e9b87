// This file holds the health_check step type: its probes (http, tcp,
// docker, exec), schema, decoding, review and the timeout arithmetic.
package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// HealthCheck waits until a container is healthy: healthy_threshold
// consecutive successful probes, one every interval, within the step's
// timeout. A deploy is only as good as this step: restore must not put a
// server back before it answers.
type HealthCheck struct{}

// DefaultHealthTimeout bounds a health check whose step sets no timeout.
const DefaultHealthTimeout = 60 * time.Second

// HealthCheckSpec is a decoded health_check step. Exactly one probe kind is
// set.
type HealthCheckSpec struct {
	Container dsl.String
	Engine    *dsl.Docker
	// Nginx is the load balancer an http probe with via_nginx goes through.
	Nginx            *dsl.Nginx
	Interval         dsl.Duration
	HealthyThreshold dsl.Int
	// StartPeriod is a grace period after which failures start counting
	// against the step; probes run from the start, so a fast app passes
	// early.
	StartPeriod dsl.Duration

	HTTP   *HTTPProbe
	TCP    *TCPProbe
	Docker *DockerProbe
	Exec   *ExecProbe
}

// HTTPProbe checks an HTTP answer from the container.
type HTTPProbe struct {
	Port         dsl.Int
	Path         dsl.String
	Method       dsl.String
	ExpectStatus dsl.Int
	// ExpectBody is a substring the body must contain.
	ExpectBody dsl.String
	// ExpectHeaders are headers the answer must carry, with these values.
	ExpectHeaders dsl.StringMap
	// Network picks the container's address when it is on several networks.
	Network dsl.String
	// Timeout bounds one request.
	Timeout dsl.Duration
	// ViaNginx sends the request to the load balancer (the health_check's
	// nginx, on Port) instead of the container: an end-to-end check that
	// the service answers through nginx, e.g. after a restore.
	ViaNginx dsl.Bool
}

// TCPProbe checks that the container accepts connections on a port.
type TCPProbe struct {
	Port    dsl.Int
	Network dsl.String
	Timeout dsl.Duration
}

// DockerProbe relies on the container's own HEALTHCHECK status.
type DockerProbe struct{}

// ExecProbe runs a command in the container; exit code 0 is healthy. The
// command is an argv list, never a shell string, so no value from a plan
// can be interpreted by a shell.
type ExecProbe struct {
	Command dsl.StringList
}

var healthSchema = &hcl.BodySchema{
	Attributes: attrs("container!", "engine", "nginx", "interval", "healthy_threshold", "start_period"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "http"}, {Type: "tcp"}, {Type: "docker"}, {Type: "exec"}},
}

var (
	httpSchema = &hcl.BodySchema{Attributes: attrs("port!", "path", "method", "expect_status", "expect_body", "expect_headers", "network", "timeout", "via_nginx")}
	tcpSchema  = &hcl.BodySchema{Attributes: attrs("port!", "network", "timeout")}
	execSchema = &hcl.BodySchema{Attributes: attrs("command!")}
)

// Name implements Type.
func (HealthCheck) Name() string { return "health_check" }

// Summary implements Type.
func (HealthCheck) Summary() string {
	return "wait until a container answers http, tcp, its HEALTHCHECK or a command"
}

// Schema implements Type.
func (HealthCheck) Schema() *hcl.BodySchema { return healthSchema }

// Decode implements Type.
func (HealthCheck) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, healthSchema)
	s := &HealthCheckSpec{
		Container:        r.Name("container"),
		Engine:           r.Docker("engine"),
		Nginx:            r.Nginx("nginx"),
		Interval:         r.PositiveDuration("interval", time.Second),
		HealthyThreshold: r.Int("healthy_threshold", 1, 1, 1000),
		StartPeriod:      r.Duration("start_period", 0),
	}
	var kinds []*hcl.Block
	for _, b := range r.Content.Blocks {
		kinds = append(kinds, b)
		br := dc.Block(b)
		switch b.Type {
		case "http":
			c := br.Read(b.Body, httpSchema)
			s.HTTP = &HTTPProbe{
				Port:          c.Int("port", 0, 1, 65535),
				Path:          c.StringDefault("path", "/"),
				Method:        c.OneOf("method", "GET", "GET", "HEAD", "POST"),
				ExpectStatus:  c.Int("expect_status", 200, 100, 599),
				ExpectBody:    c.String("expect_body"),
				ExpectHeaders: c.StringMap("expect_headers"),
				Network:       c.String("network"),
				Timeout:       c.PositiveDuration("timeout", 2*time.Second),
				ViaNginx:      c.Bool("via_nginx", false),
			}
			if s.HTTP.ViaNginx.Value && s.Nginx == nil && !r.Has("nginx") {
				c.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "via_nginx needs an nginx",
					Detail: "Set nginx = nginx.NAME on the health_check so the probe knows which load balancer to go through.", Subject: s.HTTP.ViaNginx.Range.Ptr()})
			}
			if s.HTTP.Path.Set && !strings.HasPrefix(s.HTTP.Path.Value, "/") {
				c.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid path",
					Detail: fmt.Sprintf("%q must start with \"/\", such as \"/healthz\".", s.HTTP.Path.Value), Subject: s.HTTP.Path.Range.Ptr()})
			}
			r.Report(c.Diags()...)
		case "tcp":
			c := br.Read(b.Body, tcpSchema)
			s.TCP = &TCPProbe{Port: c.Int("port", 0, 1, 65535), Network: c.String("network"), Timeout: c.PositiveDuration("timeout", 2*time.Second)}
			r.Report(c.Diags()...)
		case "docker":
			c := br.Read(b.Body, &hcl.BodySchema{})
			s.Docker = &DockerProbe{}
			r.Report(c.Diags()...)
		case "exec":
			c := br.Read(b.Body, execSchema)
			s.Exec = &ExecProbe{Command: c.StringList("command")}
			if s.Exec.Command.Set && len(s.Exec.Command.Value) == 0 {
				c.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty command",
					Detail: "command is the argv to run in the container, such as [\"/app\", \"-check\"].", Subject: s.Exec.Command.Range.Ptr()})
			}
			r.Report(c.Diags()...)
		}
	}
	switch {
	case len(kinds) == 0:
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing probe",
			Detail:   "A health_check needs one probe block: http { port = 3000 }, tcp { port = 3000 }, docker {} (the container's HEALTHCHECK) or exec { command = [...] }.",
			Subject:  dc.DefRange.Ptr(),
		})
	case len(kinds) > 1:
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "More than one probe",
			Detail:   fmt.Sprintf("A health_check takes exactly one probe block, and this %q block comes after the %q block at %s. Split them into two health_check steps.", kinds[1].Type, kinds[0].Type, kinds[0].DefRange),
			Subject:  kinds[1].DefRange.Ptr(),
		})
	}
	return s, r.Diags()
}

// DefaultTimeout bounds a health check whose step sets no timeout.
func (s *HealthCheckSpec) DefaultTimeout() time.Duration { return DefaultHealthTimeout }

// Describe implements dsl.Spec.
func (s *HealthCheckSpec) Describe() []dsl.Attribute {
	var d describer
	d.str("container", s.Container)
	switch {
	case s.HTTP != nil:
		h := s.HTTP
		desc := fmt.Sprintf("%s :%d%s expect %d", h.Method.Value, h.Port.Value, h.Path.Value, h.ExpectStatus.Value)
		if h.ViaNginx.Value && s.Nginx != nil {
			desc = fmt.Sprintf("%s nginx.%s:%d%s expect %d", h.Method.Value, s.Nginx.Name, h.Port.Value, h.Path.Value, h.ExpectStatus.Value)
		}
		if h.ExpectBody.Set {
			desc += " body contains " + dsl.FormatValue(h.ExpectBody.Value)
			if h.ExpectBody.Sensitive {
				desc = fmt.Sprintf("%s :%d%s expect %d body contains (sensitive)", h.Method.Value, h.Port.Value, h.Path.Value, h.ExpectStatus.Value)
			}
		}
		d.add("http", desc, true, false)
		d.add("expect_headers", dsl.FormatValue(h.ExpectHeaders.Value), h.ExpectHeaders.Set, h.ExpectHeaders.Sensitive)
	case s.TCP != nil:
		d.add("tcp", fmt.Sprintf(":%d", s.TCP.Port.Value), true, false)
	case s.Docker != nil:
		d.add("docker", "HEALTHCHECK status is healthy", true, false)
	case s.Exec != nil:
		d.add("exec", dsl.FormatValue(s.Exec.Command.Value), true, s.Exec.Command.Sensitive)
	}
	d.add("interval", s.Interval.Value.String(), true, false)
	d.add("healthy_threshold", fmt.Sprint(s.HealthyThreshold.Value), true, false)
	d.add("start_period", s.StartPeriod.Value.String(), s.StartPeriod.Set, false)
	return d
}

// DockerEngine implements EngineUser.
func (s *HealthCheckSpec) DockerEngine() *dsl.Docker { return s.Engine }

// CheckTimeout implements TimeoutChecker: the healthy_threshold-th passing
// probe comes (healthy_threshold-1) × interval after the first, so a
// timeout not longer than that can never be met.
func (s *HealthCheckSpec) CheckTimeout(timeout time.Duration, set bool, at hcl.Range) hcl.Diagnostics {
	n, every := s.HealthyThreshold.Value, s.Interval.Value
	need := time.Duration(n-1) * every
	if n <= 1 || need < timeout {
		return nil
	}
	which := fmt.Sprintf("the step's timeout = %s", timeout)
	if !set {
		which = fmt.Sprintf("the default timeout of a health_check, %s (set timeout on the step to change it)", timeout)
	}
	where := ""
	for _, a := range []struct {
		name string
		set  bool
		r    hcl.Range
	}{{"healthy_threshold", s.HealthyThreshold.Set, s.HealthyThreshold.Range}, {"interval", s.Interval.Set, s.Interval.Range}} {
		if a.set {
			where += fmt.Sprintf(" %s is set at %s.", a.name, a.r)
		}
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Health check cannot pass within its timeout",
		Detail: fmt.Sprintf("healthy_threshold = %d probes, interval = %s apart: the last of them comes (%d - 1) × %s = %s after the first, which is not within %s. It could never pass.%s Raise the timeout above %s, or lower healthy_threshold or interval.",
			n, every, n, every, need, which, where, need),
		Subject: at.Ptr(),
	}}
}
