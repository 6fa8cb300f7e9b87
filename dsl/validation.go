// This file holds variable validation blocks, as in Terraform: a condition
// on the variable's value and the message to show when it is false, checked
// whatever the value came from (default, environment, -var-file, -var).
package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

// checkRules checks the validation blocks of one variable against its
// final value. A condition may refer to the variable itself only: it is
// checked before anything else of the plan has a value.
func (d *varDecl) checkRules() hcl.Diagnostics {
	var diags hcl.Diagnostics
	name := d.model.Name
	if len(d.rules) == 0 || d.value == cty.NilVal || !d.value.IsWhollyKnown() || d.value.ContainsMarked() {
		return nil
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{name: d.value})},
		Functions: functions,
	}
	for _, b := range d.rules {
		content, cd := b.Body.Content(validationSchema)
		diags = append(diags, cd...)
		if cd.HasErrors() {
			continue
		}
		cond, msg := content.Attributes["condition"], content.Attributes["error_message"]
		bad := false
		for _, a := range []*hcl.Attribute{cond, msg} {
			for _, tr := range a.Expr.Variables() {
				if n, _, ok := attrName(tr, 1); tr.RootName() != "var" || !ok || n != name {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid reference in variable validation",
						Detail:   fmt.Sprintf("The validation of variable %q can refer only to the variable itself, as var.%s: it is checked before anything else in the plan has a value.", name, name),
						Subject:  tr.SourceRange().Ptr(),
					})
					bad = true
				}
			}
		}
		if bad {
			continue
		}
		v, vd := cond.Expr.Value(ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		v, err := convert.Convert(v, cty.Bool)
		if err != nil || v.IsNull() || !v.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation condition",
				Detail:   "condition must be true or false, such as length(var.version) > 0.",
				Subject:  cond.Expr.Range().Ptr(),
			})
			continue
		}
		if v.True() {
			continue
		}
		text := "The value is not valid."
		if m, md := msg.Expr.Value(ctx); !md.HasErrors() && !m.IsNull() && m.IsKnown() {
			if s, err := convert.Convert(m, cty.String); err == nil && !s.IsNull() {
				text = s.AsString()
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("%s\n\nvar.%s (from %s) fails this validation rule. Give a value that meets the condition.",
				text, name, d.model.Source),
			Subject: cond.Expr.Range().Ptr(),
		})
	}
	return diags
}
