// This file holds the cutover step type, a blue_green's cut-over: its
// schema, decoding, review, and which colour nginx serves now.
package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Cutover moves an upstream's traffic from the live colour of a blue_green
// to the idle one in one edit and one reload (the idle colour's server
// lines restored, the live colour's marked down), then waits until the
// requests the old colour had are done, exactly as a drain does. Which
// colour is live is read from nginx when it runs, never from the plan: the
// next apply deploys and cuts over to the other colour by itself. Its undo
// flips back the same way, after checking that the previous colour's
// containers run; `plan rollback` uses that undo after a finished apply.
// dsl expands a blue_green block into one cutover step, with every
// attribute filled in from the block.
type Cutover struct{}

// ColourSet is one colour of a cut-over: per target, its server line and
// its container.
type ColourSet struct {
	Name       string
	Targets    []string
	Servers    []string
	Containers []string
}

// CutoverSpec is a decoded cutover step.
type CutoverSpec struct {
	Nginx *dsl.Nginx
	// Name is the blue_green's name: its other steps' addresses derive
	// from it (dsl.BlueGreenAddr).
	Name string
	// Colours are blue then green.
	Colours [2]ColourSet
	// KeepPrevious keeps the previous colour running after a successful
	// apply, so that going back starts nothing.
	KeepPrevious dsl.Bool
	Engine       *dsl.Docker
	// Idle is how the idle colour's server lines are marked: dsl.IdleDown
	// (`down`) or dsl.IdleBackup (`backup`, so nginx still falls back to
	// them when every live server fails).
	Idle string
	decl hcl.Range
}

var cutoverSchema = &hcl.BodySchema{Attributes: attrs("nginx!", "name!",
	"blue_targets!", "blue_servers!", "blue_containers!",
	"green_targets!", "green_servers!", "green_containers!",
	"keep_previous", "engine", "idle")}

// Name implements Type.
func (Cutover) Name() string { return dsl.CutoverType }

// Summary implements Type.
func (Cutover) Summary() string {
	return "blue/green: move the traffic to the idle colour in one reload (a blue_green block makes it)"
}

// Schema implements Type.
func (Cutover) Schema() *hcl.BodySchema { return cutoverSchema }

// Decode implements Type.
func (Cutover) Decode(body hcl.Body, dc *dsl.DecodeContext) (Spec, hcl.Diagnostics) {
	r := dc.Read(body, cutoverSchema)
	s := &CutoverSpec{Nginx: r.Nginx("nginx"), Name: r.String("name").Value, KeepPrevious: r.Bool("keep_previous", true),
		Engine: r.Docker("engine"), decl: dc.DefRange}
	idle := r.OneOf("idle", dsl.IdleDown, dsl.IdleDown, dsl.IdleBackup)
	s.Idle = idle.Value
	if s.Idle == dsl.IdleBackup && s.Nginx != nil && s.Nginx.Mode.Value == dsl.NginxModeDynamic {
		// The reload-free backend keeps membership in its Lua state, which
		// has no backup servers: the swap could not be made in one step.
		r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "idle = \"backup\" needs mode = \"reload\"",
			Detail: fmt.Sprintf("nginx.%s has mode = \"dynamic\", whose Lua balancer has no backup servers, so it cannot move the backup flag between colours. Use idle = \"down\" (the default) with this nginx, or remove mode = \"dynamic\" from nginx.%s.",
				s.Nginx.Name, s.Nginx.Name),
			Subject: idle.Range.Ptr()})
	}
	for i, c := range dsl.Colours {
		s.Colours[i] = ColourSet{Name: c, Targets: r.StringList(c + "_targets").Value,
			Servers: r.StringList(c + "_servers").Value, Containers: r.StringList(c + "_containers").Value}
		if n := len(s.Colours[i].Targets); len(s.Colours[i].Servers) != n || len(s.Colours[i].Containers) != n {
			r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid cutover",
				Detail:  fmt.Sprintf("%s_targets, %s_servers and %s_containers must have one element per target.", c, c, c),
				Subject: dc.DefRange.Ptr()})
		}
	}
	return s, r.Diags()
}

// DefaultTimeout bounds a cut-over whose step sets no timeout: a reload
// and the wait for the old colour's requests (drain_timeout).
func (s *CutoverSpec) DefaultTimeout() time.Duration {
	d := 2*reloadBudget + time.Minute
	if s.Nginx != nil {
		d += s.Nginx.DrainTimeout.Value
	}
	return d
}

// Describe implements dsl.Spec.
func (s *CutoverSpec) Describe() []dsl.Attribute {
	var d describer
	if s.Nginx != nil {
		d.nginx(s.Nginx)
		d.str("upstream", s.Nginx.Upstream)
	}
	d.add("live", "read from nginx at apply; traffic moves to the other colour", true, false)
	for _, c := range s.Colours {
		d.add(c.Name, strings.Join(c.Servers, ", "), true, false)
	}
	d.add("idle", s.idleWord(), true, false)
	d.add("keep_previous", fmt.Sprint(s.KeepPrevious.Value), true, false)
	return d
}

// DockerEngine implements EngineUser.
func (s *CutoverSpec) DockerEngine() *dsl.Docker { return s.Engine }

// servers lists every server line of both colours.
func (s *CutoverSpec) servers() []string {
	return append(append([]string{}, s.Colours[0].Servers...), s.Colours[1].Servers...)
}

// live reads which colour serves from the upstream's members: the one
// whose server lines are all up (neither down nor backup) while the
// other's are all idle (all `down`, or with idle = "backup" all `backup`
// and none down). Anything else is an error that says what nginx has and
// how to fix it.
func (s *CutoverSpec) live(ms []nginx.Member) (live int, err error) {
	byAddr := map[string]nginx.Member{}
	for _, m := range ms {
		byAddr[m.Address] = m
	}
	up := [2]int{}
	var desc []string
	for i, c := range s.Colours {
		var parts []string
		for _, srv := range c.Servers {
			m, ok := byAddr[srv]
			switch {
			case !ok:
				parts = append(parts, srv+" missing")
			case m.Down && m.Backup:
				parts = append(parts, srv+" down backup")
			case m.Down:
				parts = append(parts, srv+" down")
			case m.Backup:
				parts = append(parts, srv+" backup")
			default:
				parts = append(parts, srv+" up")
				up[i]++
			}
		}
		desc = append(desc, fmt.Sprintf("%s: %s", c.Name, strings.Join(parts, ", ")))
	}
	idleAll := func(i int) bool {
		for _, srv := range s.Colours[i].Servers {
			m, ok := byAddr[srv]
			if !ok || s.Idle == dsl.IdleBackup && (!m.Backup || m.Down) || s.Idle != dsl.IdleBackup && !m.Down {
				return false
			}
		}
		return true
	}
	for i := range s.Colours {
		if up[i] == len(s.Colours[i].Servers) && idleAll(1-i) {
			return i, nil
		}
	}
	what := "both colours are up"
	switch {
	case up[0] == 0 && up[1] == 0:
		what = "no colour is up"
	case up[0] < len(s.Colours[0].Servers) && up[1] < len(s.Colours[1].Servers):
		what = "the colours are mixed"
	}
	upstream := ""
	if s.Nginx != nil {
		upstream = s.Nginx.Upstream.Value
	}
	mark := "all marked `down`"
	if s.Idle == dsl.IdleBackup {
		mark = "all marked `backup` (idle = \"backup\"), none `down`"
	}
	return -1, fmt.Errorf("cannot tell which colour is live: %s in upstream %q (%s). A blue/green needs one colour's server lines all up and the other's %s: edit nginx.conf so that the colour that should serve is up and the other is %s, reload nginx, and apply again",
		what, upstream, strings.Join(desc, "; "), mark, s.idleWord())
}

// idleWord is how the idle colour's lines are marked, for messages.
func (s *CutoverSpec) idleWord() string {
	if s.Idle == dsl.IdleBackup {
		return "backup"
	}
	return "down"
}

// inBlueGreen reports whether s is a phase of one of p's blue_green
// blocks: its deploy replaces a container of the idle colour, which nginx
// sends nothing to (the cut-over checks that), so it needs no drain.
func inBlueGreen(p *dsl.Plan, s *dsl.Step) bool {
	for _, bg := range p.BlueGreens {
		if strings.HasPrefix(s.Addr, "blue_green."+bg.Name+".") {
			return true
		}
	}
	return false
}
