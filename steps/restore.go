// This file holds the restore step type: its schema, decoding and review.
package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// reloadBudget is the time a step allows for `nginx -t` and a reload on top
// of its own waiting.
const reloadBudget = 30 * time.Second

// Restore puts a server back into an nginx upstream: it removes `down`,
// checks that the server's host resolves where nginx runs, runs `nginx -t`
// and reloads. Checking resolution first means a typo never gets as far as a
// failed reload.
type Restore struct{}

// RestoreSpec is a decoded restore step.
type RestoreSpec struct {
	Nginx  *dsl.Nginx
	Server dsl.String
}

var restoreSchema = &hcl.BodySchema{Attributes: attrs("nginx!", "server!")}

// Name implements Type.
func (Restore) Name() string { return "restore" }

// Summary implements Type.
func (Restore) Summary() string { return "put a drained server back into its nginx upstream" }

// Schema implements Type.
func (Restore) Schema() *hcl.BodySchema { return restoreSchema }

// Decode implements Type.
func (Restore) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, restoreSchema)
	s := &RestoreSpec{Nginx: r.Nginx("nginx"), Server: r.String("server")}
	r.Report(checkServer(s.Server)...)
	return s, r.Diags()
}

// DefaultTimeout bounds a restore whose step sets no timeout: a check, a
// reload and its confirmation.
func (s *RestoreSpec) DefaultTimeout() time.Duration { return reloadBudget }

// Describe implements dsl.Spec.
func (s *RestoreSpec) Describe() []dsl.Attribute {
	var d describer
	if s.Nginx != nil {
		d.nginx(s.Nginx)
		d.str("upstream", s.Nginx.Upstream)
	}
	d.str("server", s.Server)
	return d
}

// checkServer rejects server addresses that could not be an upstream
// server: they would never match a line, and characters such as `;`, `{`,
// quotes or whitespace could smuggle directives into the config.
func checkServer(s dsl.String) hcl.Diagnostics {
	if !s.Set {
		return nil
	}
	if s.Value == "" || strings.ContainsAny(s.Value, " \t\r\n;{}'\"#$\\") {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid server address",
			Detail:   fmt.Sprintf("%q is not an upstream server address. Write it as it appears in the upstream block, such as \"app2:3000\" or \"10.0.0.5:8080\", with no spaces, quotes or ;{}.", s.Value),
			Subject:  s.Range.Ptr(),
		}}
	}
	return nil
}

// Membership implements MembershipChanger.
func (s *RestoreSpec) Membership() Membership {
	return Membership{Nginx: s.Nginx, Server: s.Server, Effect: PutsBack}
}
