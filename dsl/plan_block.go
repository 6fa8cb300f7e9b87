// This file decodes the plan block: name, description, on_failure, and
// where the plan's state lives (state, state_path; resolved in state.go).
package dsl

import (
	"github.com/hashicorp/hcl/v2"
)

var planSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "name"}, {Name: "description"}, {Name: "on_failure"},
	{Name: "state"}, {Name: "state_path"},
}}

// decodePlanBlocks decodes the optional, single plan {} block. It may only
// use literals and functions: variables are not decoded yet and the plan's
// identity should not depend on them.
func (l *loader) decodePlanBlocks(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, b := range blocks {
		if i > 0 {
			diags = append(diags, duplicate("block", "plan", blocks[0].DefRange, b.DefRange))
			continue
		}
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange}
		r := dc.Read(b.Body, planSchema)
		if s := r.String("name"); s.Set {
			l.plan.Name = s.Value
		}
		l.plan.Description = r.String("description").Value
		l.plan.OnFailure = r.OneOf("on_failure", "rollback", "rollback", "stop")
		if a, ok := r.Content.Attributes["state"]; ok {
			l.stateAttr = a
		}
		l.statePath = r.String("state_path")
		diags = append(diags, r.Diags()...)
	}
	return diags
}
