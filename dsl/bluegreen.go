// This file expands blue_green blocks: two colour sets of targets behind one
// nginx upstream, each target with a deploy and a health_check step, then
// one cutover step that moves the traffic to the colour just deployed, and
// an optional gate after it. Which colour is live is not known here: it is
// read from nginx at apply, and the live colour's steps are skipped then
// (steps.CutoverSpec), so the graph is the same whichever colour serves.
package dsl

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Colours are the two colour blocks of a blue_green, in the order their
// steps are expanded.
var Colours = []string{"blue", "green"}

// BlueGreenPhases are the step types a blue_green expands to for each
// target of both colours, in the order they run.
var BlueGreenPhases = []string{"deploy", "health_check"}

// CutoverType is the step type of a blue_green's cut-over.
const CutoverType = "cutover"

// The values of a blue_green's idle: how the idle colour's server lines
// are kept out of rotation. IdleDown marks them `down` (nginx sends them
// nothing); IdleBackup marks them `backup`, so nginx still falls back to
// the idle colour when every server of the live one fails.
const (
	IdleDown   = "down"
	IdleBackup = "backup"
)

// BlueGreen is a `blue_green` block as written; its expansion lives in
// Plan.Steps.
type BlueGreen struct {
	Name      string
	DeclRange hcl.Range
	// Colours are blue then green, each with its targets in order.
	Colours []*Colour
	// Parallelism bounds the deploys of a colour that run at once.
	Parallelism int
	// Idle is IdleDown or IdleBackup: what marks the idle colour's server
	// lines in nginx.
	Idle string
}

// Colour is one colour set of a blue_green: its targets and, per target,
// the server line nginx has for it and the container to deploy.
type Colour struct {
	Name       string
	Targets    []string
	Servers    []string
	Containers []string
	DeclRange  hcl.Range
}

// BlueGreenAddr is the address of a phase of one target of a blue_green:
// blue_green.NAME.PHASE["TARGET"]. The cut-over and the gate, which are
// one per blue_green, are blue_green.NAME.cutover and blue_green.NAME.gate.
func BlueGreenAddr(name, phase, target string) string {
	if target == "" {
		return fmt.Sprintf("blue_green.%s.%s", name, phase)
	}
	return fmt.Sprintf("blue_green.%s.%s[%q]", name, phase, target)
}

var blueGreenSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "nginx", Required: true}, {Name: "idle"}, {Name: "parallelism"},
		{Name: "keep_previous"}, {Name: "depends_on"}, {Name: "engine"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "blue"}, {Type: "green"},
		{Type: "deploy"}, {Type: "health_check"}, {Type: GatePhase},
	},
}

var colourSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "targets", Required: true}, {Name: "server", Required: true}, {Name: "container"}},
}

type blueGreenBlock struct {
	block   *hcl.Block
	content *hcl.BodyContent
	model   *BlueGreen
	// blocks holds each phase's and colour's own block.
	blocks map[string]*hcl.Block
	// colourAttrs holds each colour's attributes (server, container).
	colourAttrs map[string]hcl.Attributes
	// firsts are the deploys, which wait for the blue_green's depends_on.
	firsts []*Step
}

func (l *loader) collectBlueGreens(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, invalidName("blue_green", ", so it can be named in addresses as blue_green.NAME", b.LabelRanges[0]))
			continue
		}
		if prev, ok := l.blueGreens[name]; ok {
			diags = append(diags, duplicate("blue_green", fmt.Sprintf("%q", name), prev.block.DefRange, b.DefRange))
			continue
		}
		bb := &blueGreenBlock{block: b, model: &BlueGreen{Name: name, DeclRange: b.DefRange},
			blocks: map[string]*hcl.Block{}, colourAttrs: map[string]hcl.Attributes{}}
		l.blueGreens[name] = bb
		l.blueGreenOrder = append(l.blueGreenOrder, name)
	}
	return diags
}

// decodeBlueGreens checks each blue_green and expands it.
func (l *loader) decodeBlueGreens() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range l.blueGreenOrder {
		bb := l.blueGreens[name]
		d := l.decodeBlueGreen(bb)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		diags = append(diags, l.expandBlueGreen(bb)...)
		l.plan.BlueGreens = append(l.plan.BlueGreens, bb.model)
	}
	return diags
}

func (l *loader) decodeBlueGreen(bb *blueGreenBlock) hcl.Diagnostics {
	b := bb.block
	dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange, Dir: filepath.Dir(b.DefRange.Filename)}
	r := dc.Read(b.Body, blueGreenSchema)
	bb.content = r.Content
	for _, blk := range r.Content.Blocks {
		if prev, ok := bb.blocks[blk.Type]; ok {
			r.Report(duplicate("block", blk.Type, prev.DefRange, blk.DefRange))
			continue
		}
		bb.blocks[blk.Type] = blk
	}
	var missing []string
	for _, need := range []struct{ block, why string }{
		{"blue", "blue { targets = [\"app1-blue\"] server = \"${target}:80\" }"},
		{"green", "green { targets = [\"app1-green\"] server = \"${target}:80\" }"},
		{"deploy", "deploy { image = var.image }: what to run on the idle colour"},
		{"health_check", "health_check { http { port = 80 } }: traffic moves only to a colour whose every target passed it"},
	} {
		if bb.blocks[need.block] == nil {
			missing = append(missing, fmt.Sprintf("a %s block, such as %s", need.block, need.why))
		}
	}
	if len(missing) > 0 {
		summary := "Missing blocks"
		if len(missing) == 1 {
			summary = fmt.Sprintf("Missing %s block", strings.Fields(missing[0])[1])
		}
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("A blue_green needs blue, green, deploy and health_check blocks. Add %s.", strings.Join(missing, "; and ")),
			Subject:  b.DefRange.Ptr(),
		})
	}
	checkNotViaNginx(bb.blocks["health_check"], r)
	bb.model.Idle = r.OneOf("idle", IdleDown, IdleDown, IdleBackup).Value
	r.Bool("keep_previous", true)
	if r.Has("nginx") {
		r.Nginx("nginx")
	}
	if r.Has("engine") {
		r.Docker("engine")
	}
	for _, c := range Colours {
		if blk := bb.blocks[c]; blk != nil {
			bb.model.Colours = append(bb.model.Colours, l.decodeColour(bb, blk, r))
		}
	}
	if len(bb.model.Colours) == 2 && !r.Diags().HasErrors() {
		checkColours(bb, r)
	}
	def := 1
	if len(bb.model.Colours) > 0 && len(bb.model.Colours[0].Targets) > 0 {
		def = len(bb.model.Colours[0].Targets)
	}
	bb.model.Parallelism = r.Int("parallelism", def, 1, MaxBatchSize).Value
	return r.Diags()
}

// decodeColour reads one colour block: its targets, and each target's
// server and container with target bound.
func (l *loader) decodeColour(bb *blueGreenBlock, blk *hcl.Block, parent *Reader) *Colour {
	c := &Colour{Name: blk.Type, DeclRange: blk.DefRange}
	dc := &DecodeContext{scope: &scope{loader: l}, DefRange: blk.DefRange, Dir: filepath.Dir(blk.DefRange.Filename)}
	r := dc.Read(blk.Body, colourSchema)
	bb.colourAttrs[c.Name] = r.Content.Attributes
	c.Targets = l.rolloutTargets(r)
	if r.Diags().HasErrors() || !r.Has("server") {
		parent.Report(r.Diags()...)
		return c
	}
	for _, t := range c.Targets {
		sc := (&scope{loader: l}).child()
		tv := cty.StringVal(t)
		sc.target = &tv
		tdc := &DecodeContext{scope: sc, DefRange: blk.DefRange, Dir: dc.Dir}
		tr := &Reader{dc: tdc, Content: r.Content}
		s := tr.String("server")
		cont := String{Value: t}
		if tr.Has("container") {
			cont = tr.Name("container")
		}
		r.Report(tr.Diags()...)
		if s.Sensitive || cont.Sensitive {
			r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Sensitive value in a colour",
				Detail:  "server and container of a colour cannot use a sensitive value: they are shown in every review and journal.",
				Subject: blk.DefRange.Ptr()})
		}
		c.Servers = append(c.Servers, s.Value)
		c.Containers = append(c.Containers, cont.Value)
	}
	parent.Report(r.Diags()...)
	return c
}

// checkColours refuses colour sets that cannot take each other's place:
// different sizes, a target or a server line in both.
func checkColours(bb *blueGreenBlock, r *Reader) {
	blue, green := bb.model.Colours[0], bb.model.Colours[1]
	rangeOf := func(c *Colour, attr string) hcl.Range {
		if a, ok := bb.colourAttrs[c.Name][attr]; ok {
			return a.Expr.Range()
		}
		return c.DeclRange
	}
	if len(blue.Targets) != len(green.Targets) {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Colours of different sizes",
			Detail: fmt.Sprintf("blue has %d targets and green has %d. Each colour must carry the whole traffic on its own, so both list the same number of targets: add or remove targets until they match.",
				len(blue.Targets), len(green.Targets)),
			Subject: rangeOf(green, "targets").Ptr(),
		})
		return
	}
	targets := map[string]bool{}
	for _, t := range blue.Targets {
		targets[t] = true
	}
	for _, t := range green.Targets {
		if targets[t] {
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Target in both colours",
				Detail:   fmt.Sprintf("%q is a target of blue and of green. The idle colour is redeployed while the live one serves, so a target must belong to one colour: give each colour its own containers, such as %q and %q.", t, t+"-blue", t+"-green"),
				Subject:  rangeOf(green, "targets").Ptr(),
			})
		}
	}
	servers := map[string]string{}
	for i, s := range blue.Servers {
		servers[s] = blue.Targets[i]
	}
	for i, s := range green.Servers {
		if bt, ok := servers[s]; ok {
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Server in both colours",
				Detail: fmt.Sprintf("Server %q is blue's (target %q) and green's (target %q). A cut-over marks one colour's server lines down and the other's up, so each colour needs its own server lines: make server give a distinct address per target, such as \"${target}:80\".",
					s, bt, green.Targets[i]),
				Subject: rangeOf(green, "server").Ptr(),
			})
		}
	}
}

// expandBlueGreen adds, per colour and target, a deploy and a health check
// (parallelism deploys of a colour at a time), then the cut-over after
// every health check, then the gate after the cut-over.
func (l *loader) expandBlueGreen(bb *blueGreenBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	m := bb.model
	attrs := bb.content.Attributes
	// phaseStep works on a rollout's block; a blue_green's phases are
	// looked up the same way.
	rb := &rolloutBlock{block: bb.block, model: &Rollout{Name: m.Name, DeclRange: m.DeclRange}, phases: map[string]*hcl.Block{}}
	for _, p := range append(append([]string{}, BlueGreenPhases...), GatePhase) {
		if blk := bb.blocks[p]; blk != nil {
			rb.phases[p] = blk
		}
	}
	var checks, all []string
	for _, c := range m.Colours {
		ca := bb.colourAttrs[c.Name]
		for i, t := range c.Targets {
			sc := (&scope{loader: l}).child()
			tv := cty.StringVal(t)
			sc.target = &tv
			defaults := map[string]hcl.Expression{
				"nginx":     attrs["nginx"].Expr,
				"server":    ca["server"].Expr,
				"container": hcl.StaticExpr(tv, c.DeclRange),
			}
			if a, ok := ca["container"]; ok {
				defaults["container"] = a.Expr
			}
			if a, ok := attrs["engine"]; ok {
				defaults["engine"] = a.Expr
			}
			var prev *Step
			for _, phase := range BlueGreenPhases {
				addr := BlueGreenAddr(m.Name, phase, t)
				s, d := l.phaseStep(rb, phase, addr, sc, defaults)
				diags = append(diags, d...)
				if s == nil {
					return diags
				}
				s.Key = t
				if prev != nil {
					s.DependsOn = append(s.DependsOn, Dependency{Addr: prev.Addr, Range: s.DeclRange, Implicit: true})
				} else {
					bb.firsts = append(bb.firsts, s)
					if i >= m.Parallelism {
						// A window of parallelism deploys: this one starts
						// once the one parallelism places before it is
						// checked.
						before := BlueGreenAddr(m.Name, "health_check", c.Targets[i-m.Parallelism])
						s.DependsOn = append(s.DependsOn, Dependency{Addr: before, Range: s.DeclRange, Implicit: true})
					}
				}
				prev = s
				all = append(all, addr)
			}
			checks = append(checks, prev.Addr)
		}
	}
	cut, d := l.phaseStep(rb, CutoverType, BlueGreenAddr(m.Name, CutoverType, ""), &scope{loader: l}, l.cutoverDefaults(bb))
	diags = append(diags, d...)
	if cut == nil {
		return diags
	}
	for _, a := range checks {
		cut.DependsOn = append(cut.DependsOn, Dependency{Addr: a, Range: bb.block.DefRange, Implicit: true})
	}
	all = append(all, cut.Addr)
	if bb.blocks[GatePhase] != nil {
		g, d := l.phaseStep(rb, GatePhase, BlueGreenAddr(m.Name, GatePhase, ""), &scope{loader: l}, nil)
		diags = append(diags, d...)
		if g == nil {
			return diags
		}
		g.DependsOn = append(g.DependsOn, Dependency{Addr: cut.Addr, Range: g.DeclRange, Implicit: true})
		all = append(all, g.Addr)
	}
	l.groups["blue_green."+m.Name] = all
	return diags
}

// cutoverDefaults are the cut-over step's attributes: everything the
// blue_green says about its colours, as values (the cut-over has no
// target of its own to evaluate them with).
func (l *loader) cutoverDefaults(bb *blueGreenBlock) map[string]hcl.Expression {
	m, attrs, rng := bb.model, bb.content.Attributes, bb.block.DefRange
	list := func(ss []string) hcl.Expression {
		vs := make([]cty.Value, len(ss))
		for i, s := range ss {
			vs[i] = cty.StringVal(s)
		}
		if len(vs) == 0 {
			return hcl.StaticExpr(cty.ListValEmpty(cty.String), rng)
		}
		return hcl.StaticExpr(cty.ListVal(vs), rng)
	}
	out := map[string]hcl.Expression{
		"nginx": attrs["nginx"].Expr,
		"name":  hcl.StaticExpr(cty.StringVal(m.Name), rng),
	}
	for _, c := range m.Colours {
		out[c.Name+"_targets"] = list(c.Targets)
		out[c.Name+"_servers"] = list(c.Servers)
		out[c.Name+"_containers"] = list(c.Containers)
	}
	for _, k := range []string{"keep_previous", "engine", "idle"} {
		if a, ok := attrs[k]; ok {
			out[k] = a.Expr
		}
	}
	return out
}

// blueGreenDependencies makes every deploy of a blue_green wait for what
// its depends_on lists (steps, or whole rollouts).
func (l *loader) blueGreenDependencies() hcl.Diagnostics {
	var diags hcl.Diagnostics
	byAddr := make(map[string]bool, len(l.plan.Steps))
	for _, s := range l.plan.Steps {
		byAddr[s.Addr] = true
	}
	for _, name := range l.blueGreenOrder {
		bb := l.blueGreens[name]
		if bb.content == nil {
			continue
		}
		diags = append(diags, l.blueGreenPhaseRefs(bb, byAddr)...)
		a, ok := bb.content.Attributes["depends_on"]
		if !ok {
			continue
		}
		refs, d := dependsOn(a.Expr, &scope{loader: l})
		diags = append(diags, d...)
		for _, ref := range refs {
			targets := l.groups[ref.addr]
			if byAddr[ref.addr] {
				targets = []string{ref.addr}
			}
			if len(targets) == 0 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared step",
					Detail:   fmt.Sprintf("No step %s is declared. Refer to a step as step.TYPE.NAME, or to a rollout as rollout.NAME.", ref.addr),
					Subject:  ref.rng.Ptr(),
				})
				continue
			}
			for _, s := range bb.firsts {
				for _, t := range targets {
					s.DependsOn = append(s.DependsOn, Dependency{Addr: t, Range: ref.rng})
				}
			}
		}
	}
	return diags
}

// blueGreenPhaseRefs makes the steps of each phase of bb wait for the
// steps its body refers to (image = step.build.app.image), as a rollout's
// phases do: a value read from a step is there only once that step ran.
// A reference to an undeclared step is reported where the body is
// evaluated, not here.
func (l *loader) blueGreenPhaseRefs(bb *blueGreenBlock, byAddr map[string]bool) hcl.Diagnostics {
	var phaseSteps map[string][]*Step
	for _, phase := range append(append([]string{}, BlueGreenPhases...), GatePhase) {
		blk := bb.blocks[phase]
		if blk == nil {
			continue
		}
		refs := implicitRefs(expressions(blk.Body), &scope{loader: l})
		if len(refs) == 0 {
			continue
		}
		if phaseSteps == nil {
			phaseSteps = l.blueGreenSteps(bb.model.Name)
		}
		for _, ref := range refs {
			if !byAddr[ref.addr] {
				continue
			}
			for _, s := range phaseSteps[phase] {
				if s.Addr != ref.addr && !dependsOnAddr(s, ref.addr) {
					s.DependsOn = append(s.DependsOn, Dependency{Addr: ref.addr, Range: ref.rng, Implicit: true})
				}
			}
		}
	}
	return nil
}

// blueGreenSteps are the steps of the blue_green NAME by phase.
func (l *loader) blueGreenSteps(name string) map[string][]*Step {
	out := map[string][]*Step{}
	prefix := "blue_green." + name + "."
	for _, s := range l.plan.Steps {
		rest, ok := strings.CutPrefix(s.Addr, prefix)
		if !ok {
			continue
		}
		phase, _, _ := strings.Cut(rest, "[")
		out[phase] = append(out[phase], s)
	}
	return out
}

func dependsOnAddr(s *Step, addr string) bool {
	for _, d := range s.DependsOn {
		if d.Addr == addr {
			return true
		}
	}
	return false
}

// checkNotViaNginx refuses a health_check phase that probes through nginx:
// the idle colour it checks is marked down (or backup) there until the
// cut-over, so such a probe would never reach it.
func checkNotViaNginx(hc *hcl.Block, r *Reader) {
	if hc == nil {
		return
	}
	body, ok := hc.Body.(*hclsyntax.Body)
	if !ok {
		return
	}
	for _, b := range body.Blocks {
		a, ok := b.Body.Attributes["via_nginx"]
		if b.Type != "http" || !ok {
			continue
		}
		if v, d := a.Expr.Value(nil); d.HasErrors() || v.Type() != cty.Bool || v.IsNull() || v.False() {
			continue
		}
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Health check through nginx in a blue_green",
			Detail:   "The health check of a blue_green checks the idle colour before any traffic moves to it, and nginx sends it nothing until the cut-over: probe the containers directly (remove via_nginx), or add a gate { } phase to judge the new colour through nginx after the cut-over.",
			Subject:  a.Expr.Range().Ptr(),
		})
	}
}
