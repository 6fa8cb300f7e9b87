// This file expands rollout blocks into drain, deploy, health_check and
// restore steps per target, batch_size at a time, with one barrier per
// batch phase and, when the rollout has a gate phase, one gate step per
// batch.
package dsl

import (
	"fmt"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// MaxBatchSize bounds batch_size: draining hundreds of servers of one
// upstream at once is not a rolling update any more. (A batch moves in
// lockstep through barriers, which cost edges linear in its size.)
const MaxBatchSize = 256

// RolloutPhases are the step types a rollout expands to for each target, in
// the order they run.
var RolloutPhases = []string{"drain", "deploy", "health_check", "restore"}

// GatePhase is the optional phase a rollout runs once per batch, after the
// batch's restores and before the next batch's drains: a bad batch fails
// its gate, so the rollout stops there and the plan rolls back.
const GatePhase = "gate"

var rolloutSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "nginx", Required: true}, {Name: "targets", Required: true},
		{Name: "server", Required: true}, {Name: "batch_size"},
		{Name: "container"}, {Name: "depends_on"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "drain"}, {Type: "deploy"}, {Type: "health_check"}, {Type: "restore"},
		{Type: GatePhase},
	},
}

type rolloutBlock struct {
	block   *hcl.Block
	content *hcl.BodyContent
	model   *Rollout
	// phases holds each phase's own block (nil when the rollout omits it).
	phases map[string]*hcl.Block
	// steps holds the expanded steps per target, in phase order.
	steps map[string][]*stepInstance
	// gates holds the gate step of each batch, in batch order (none
	// without a gate phase).
	gates []*stepInstance
}

func (l *loader) collectRollouts(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, invalidName("rollout", ", so it can be referenced as rollout.NAME", b.LabelRanges[0]))
			continue
		}
		if prev, ok := l.rollouts[name]; ok {
			diags = append(diags, duplicate("rollout", fmt.Sprintf("%q", name), prev.block.DefRange, b.DefRange))
			continue
		}
		rb := &rolloutBlock{block: b, model: &Rollout{Name: name, DeclRange: b.DefRange},
			phases: map[string]*hcl.Block{}, steps: map[string][]*stepInstance{}}
		l.rollouts[name] = rb
		l.plan.Rollouts = append(l.plan.Rollouts, rb.model)
	}
	return diags
}

// decodeRollouts expands each rollout into drain → deploy → health_check →
// restore per target, batch_size targets at a time, each batch after the
// previous one has been restored.
func (l *loader) decodeRollouts() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, m := range l.plan.Rollouts {
		rb := l.rollouts[m.Name]
		b := rb.block
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange, Dir: filepath.Dir(b.DefRange.Filename)}
		r := dc.Read(b.Body, rolloutSchema)
		rb.content = r.Content
		for _, blk := range r.Content.Blocks {
			if prev, ok := rb.phases[blk.Type]; ok {
				r.Report(duplicate("block", blk.Type, prev.DefRange, blk.DefRange))
				continue
			}
			rb.phases[blk.Type] = blk
		}
		m.BatchSize = r.Int("batch_size", 1, 1, MaxBatchSize).Value
		m.Targets = l.rolloutTargets(r)
		if r.Has("nginx") {
			r.Nginx("nginx") // validates the reference; each phase decodes it again
		}
		diags = append(diags, r.Diags()...)
		if r.Diags().HasErrors() {
			continue
		}
		diags = append(diags, l.expandRollout(rb)...)
	}
	return diags
}

func (l *loader) rolloutTargets(r *Reader) []string {
	a, ok := r.Content.Attributes["targets"]
	if !ok {
		return nil
	}
	v, d := r.dc.Eval(a.Expr)
	r.Report(d...)
	if d.HasErrors() {
		return nil
	}
	v, marks := v.UnmarkDeep()
	if !v.IsWhollyKnown() && hasMark(marks, poisonMark{}) {
		return nil // derived from a problem reported already
	}
	if hasMark(marks, sensitiveMark) {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid targets",
			Detail:   "targets cannot use a sensitive value: each target becomes part of a step address, which every output shows.",
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	// Element by element: converting a whole tuple to a list has cty unify
	// its element types, which takes time quadratic in the length.
	var elems []string
	ok = !v.IsNull() && v.IsWhollyKnown() &&
		(v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType())
	if ok {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s, err := convert.Convert(e, cty.String)
			if err != nil || s.IsNull() {
				ok = false
				break
			}
			elems = append(elems, s.AsString())
		}
	}
	if !ok {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid targets",
			Detail:   "targets must be a list of strings, in the order to roll them, such as [\"app2\", \"app1\"].",
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	// A literal list points each duplicate at its own element.
	var literal []hclsyntax.Expression
	if tc, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && len(tc.Exprs) == len(elems) {
		literal = tc.Exprs
	}
	seen := map[string]int{}
	var out []string
	for i, t := range elems {
		if first, dup := seen[t]; dup {
			rng, where := a.Expr.Range(), ""
			if literal != nil {
				rng = literal[i].Range()
				where = fmt.Sprintf(" (first on line %d)", literal[first].Range().Start.Line)
			}
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate rollout target",
				Detail:   fmt.Sprintf("%q appears twice in targets%s; each target is rolled once. Remove this one.", t, where),
				Subject:  rng.Ptr(),
			})
			continue
		}
		seen[t] = i
		out = append(out, t)
	}
	if len(out) == 0 {
		r.Report(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty rollout",
			Detail:   "targets lists nothing to roll. Give at least one target.",
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	return out
}

func (l *loader) expandRollout(rb *rolloutBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	m := rb.model
	attrs := rb.content.Attributes
	// after is what the first phase of the next batch waits for: the
	// previous batch's restore, or the barrier that stands for all of them.
	var after []string
	var all []string
	for i, t := range m.Targets {
		sc := (&scope{loader: l}).child()
		tv := cty.StringVal(t)
		sc.target = &tv
		defaults := map[string]hcl.Expression{
			"nginx":     attrs["nginx"].Expr,
			"server":    attrs["server"].Expr,
			"container": hcl.StaticExpr(tv, rb.block.DefRange),
		}
		if a, ok := attrs["container"]; ok {
			defaults["container"] = a.Expr
		}
		var prev *Step
		var chain []string
		for _, phase := range RolloutPhases {
			addr := fmt.Sprintf("rollout.%s[%q].%s", m.Name, t, phase)
			s, d := l.phaseStep(rb, phase, addr, sc, defaults)
			diags = append(diags, d...)
			if s == nil {
				return diags
			}
			s.Key = t
			if prev != nil {
				s.DependsOn = append(s.DependsOn, Dependency{Addr: prev.Addr, Range: s.DeclRange, Implicit: true})
			} else {
				for _, a := range after {
					s.DependsOn = append(s.DependsOn, Dependency{Addr: a, Range: rb.block.DefRange, Implicit: true})
				}
			}
			rb.steps[t] = append(rb.steps[t], &stepInstance{step: s, scope: sc})
			chain = append(chain, addr)
			all = append(all, addr)
			prev = s
		}
		l.groups[fmt.Sprintf("rollout.%s[%q]", m.Name, t)] = chain
		if (i+1)%m.BatchSize == 0 || i == len(m.Targets)-1 {
			batch := m.Targets[i-i%m.BatchSize : i+1]
			n := i/m.BatchSize + 1
			after = l.lockstep(rb, batch, n)
			if rb.phases[GatePhase] != nil {
				g, d := l.batchGate(rb, n, after)
				diags = append(diags, d...)
				if g == nil {
					return diags
				}
				after = []string{g.Addr}
				all = append(all, g.Addr)
			}
		}
	}
	l.groups["rollout."+m.Name] = all
	return diags
}

// GateAddr is the address of the gate step after batch n (from 1) of a
// rollout: a batch has no target of its own to name it by, and
// rollout.NAME.gate[N] cannot be taken for a target's steps, which are
// rollout.NAME["TARGET"].PHASE.
func GateAddr(rollout string, n int) string {
	return fmt.Sprintf("rollout.%s.%s[%d]", rollout, GatePhase, n)
}

// batchGate adds the gate step of batch n, after what ends the batch
// (its restore barrier, or the restore of a batch of one). Its body is the
// gate phase's own: the rollout supplies none of a gate's attributes, and
// target is not bound, since the gate judges the whole batch.
func (l *loader) batchGate(rb *rolloutBlock, n int, after []string) (*Step, hcl.Diagnostics) {
	sc := &scope{loader: l, gate: rb.model.Name}
	s, diags := l.phaseStep(rb, GatePhase, GateAddr(rb.model.Name, n), sc, nil)
	if s == nil {
		return nil, diags
	}
	s.Key = fmt.Sprintf("batch %d", n)
	for _, a := range after {
		s.DependsOn = append(s.DependsOn, Dependency{Addr: a, Range: s.DeclRange, Implicit: true})
	}
	rb.gates = append(rb.gates, &stepInstance{step: s, scope: sc})
	return s, diags
}

// phaseStep decodes one phase of a rollout as a step of the registered type
// of the same name: the phase block's body (or an empty one when the
// rollout leaves it out), with defaults filling the attributes the rollout
// supplies, and timeout as the one meta-argument. It adds the step to the
// plan; nil means the type is not registered (reported).
func (l *loader) phaseStep(rb *rolloutBlock, phase, addr string, sc *scope, defaults map[string]hcl.Expression) (*Step, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	st, ok := l.reg.Lookup(phase)
	if !ok {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Step type not available",
			Detail: fmt.Sprintf("A rollout needs the %q step type, which this build does not register.", phase), Subject: rb.block.DefRange.Ptr()})
	}
	body := hcl.EmptyBody()
	def := rb.block.DefRange
	if blk := rb.phases[phase]; blk != nil {
		body, def = blk.Body, blk.DefRange
	}
	known := map[string]hcl.Expression{}
	for _, as := range st.Schema().Attributes {
		if e, ok := defaults[as.Name]; ok {
			known[as.Name] = e
		}
	}
	dc := &DecodeContext{scope: sc, DefRange: def, Dir: filepath.Dir(rb.block.DefRange.Filename), meta: []string{"timeout"}}
	meta, remain, d := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "timeout"}}})
	diags = append(diags, d...)
	spec, d := st.Decode(&defaultsBody{Body: remain, defaults: known}, dc)
	diags = append(diags, d...)
	s := &Step{Addr: addr, Type: phase, Name: rb.model.Name, Spec: spec, DeclRange: def, TypeRange: def}
	mr := &Reader{dc: dc, Content: meta}
	s.Timeout = mr.PositiveDuration("timeout", 0)
	diags = append(diags, mr.Diags()...)
	l.plan.Steps = append(l.plan.Steps, s)
	return s, diags
}

// phaseDone names the barrier after each phase of a batch.
var phaseDone = map[string]string{"drain": "drained", "deploy": "deployed", "health_check": "health-checked", "restore": "restored"}

// lockstep makes the targets of one batch move phase by phase together:
// every deploy waits for every drain of its batch, every health check for
// every deploy, every restore for every health check. nginx resolves every
// upstream host, down or not, whenever it loads a config, so a reload while
// another target's container is being replaced would fail; in lockstep no
// drain or restore reload ever overlaps a deploy of the same batch.
//
// Each phase of the batch ends at a Barrier the next phase waits for, so a
// batch of b targets costs 2b edges per phase instead of b². It returns
// what the next batch waits for: the barrier after the restores, or the
// one restore of a batch of one.
func (l *loader) lockstep(rb *rolloutBlock, batch []string, n int) []string {
	if len(batch) < 2 {
		in := rb.steps[batch[0]]
		return []string{in[len(in)-1].step.Addr}
	}
	var last string
	for k, phase := range RolloutPhases {
		b := &Barrier{Addr: fmt.Sprintf("rollout.%s batch %d %s", rb.model.Name, n, phaseDone[phase]), Range: rb.block.DefRange}
		for _, t := range batch {
			b.After = append(b.After, rb.steps[t][k].step.Addr)
		}
		l.plan.Barriers = append(l.plan.Barriers, b)
		last = b.Addr
		if k+1 == len(RolloutPhases) {
			break
		}
		for _, t := range batch {
			s := rb.steps[t][k+1].step
			s.DependsOn = append(s.DependsOn, Dependency{Addr: b.Addr, Range: s.DeclRange, Implicit: true})
		}
	}
	return []string{last}
}
