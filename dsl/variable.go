// This file decodes variable blocks and sets their values from defaults,
// PLAN_VAR_ variables, -var-file and -var, with validation blocks.
package dsl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

// EnvPrefix is the prefix of environment variables that set plan variables:
// PLAN_VAR_version=v2 sets var.version.
const EnvPrefix = "PLAN_VAR_"

type varDecl struct {
	model *Variable
	typ   cty.Type
	value cty.Value // NilVal until a value is found
	// broken is set when the declaration itself has an error (reported),
	// so that a missing value is not reported on top of it.
	broken bool
	// rules are the validation blocks (see checkRules).
	rules []*hcl.Block
}

// decodeVariables decodes variable blocks, then assigns values in the order
// Terraform users expect: default, then environment, then -var-file files,
// then -var flags; a later source wins.
func (l *loader) decodeVariables(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	decls := map[string]*varDecl{}
	var order []string
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := decls[name]; ok {
			diags = append(diags, duplicate("variable", fmt.Sprintf("%q", name), prev.model.DeclRange, b.DefRange))
			continue
		}
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, invalidName("variable", "", b.LabelRanges[0]))
			continue
		}
		d := &varDecl{model: &Variable{Name: name, DeclRange: b.DefRange}, typ: cty.DynamicPseudoType}
		content, cd := b.Body.Content(variableSchema)
		diags = append(diags, cd...)
		d.rules = content.Blocks
		if a, ok := content.Attributes["type"]; ok {
			ty, td := typeexpr.TypeConstraint(a.Expr)
			diags = append(diags, td...)
			if !td.HasErrors() {
				d.typ = ty
			}
			d.broken = td.HasErrors()
		}
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange}
		r := &Reader{dc: dc, Content: content}
		d.model.Description = r.String("description").Value
		d.model.Sensitive = r.Bool("sensitive", false).Value
		if a, ok := content.Attributes["default"]; ok {
			v, vd := a.Expr.Value(&hcl.EvalContext{Functions: functions})
			diags = append(diags, vd...)
			d.broken = d.broken || vd.HasErrors()
			if !vd.HasErrors() {
				cv, err := convert.Convert(v, d.typ)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid default value for variable",
						Detail:   fmt.Sprintf("The default does not match the variable's type: %s.", err),
						Subject:  a.Expr.Range().Ptr(),
					})
					d.broken = true
				} else {
					d.value = cv
					d.model.Source = "default"
					shown := renderValue(cv)
					if d.model.Sensitive {
						shown = "(sensitive)"
					}
					d.model.Default = &String{Value: shown, Set: true, Sensitive: d.model.Sensitive, Range: a.Expr.Range()}
				}
			}
		}
		diags = append(diags, r.Diags()...)
		decls[name] = d
		order = append(order, name)
		l.plan.Variables = append(l.plan.Variables, d.model)
	}
	names := make([]string, 0, len(decls))
	for n := range decls {
		names = append(names, n)
	}

	set := func(name, source string, v cty.Value, rng *hcl.Range) {
		d, ok := decls[name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("%s sets a variable named %q, but the plan declares none.%s Declare it with a variable %q {} block, or remove the value.", source, name, didYouMean(name, names), name),
				Subject:  rng,
			})
			return
		}
		cv, err := convert.Convert(v, d.typ)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("%s: the value for var.%s does not match its type: %s. Give a value of type %s.", source, name, err, d.typ.FriendlyName()),
				Subject:  rng,
			})
			// Reported: "no value was given" would be false.
			d.broken = true
			return
		}
		d.value = cv
		d.model.Source = source
	}
	// raw parses a string from the command line or the environment: as-is
	// for string variables, else as an HCL expression ("[1, 2]").
	raw := func(name, source, s string) {
		d, ok := decls[name]
		if ok && d.typ != cty.String && d.typ != cty.DynamicPseudoType {
			var v cty.Value
			vd := CheckSource([]byte(s), source)
			var expr hclsyntax.Expression
			if !vd.HasErrors() {
				expr, vd = hclsyntax.ParseExpression([]byte(s), source, hcl.Pos{Line: 1, Column: 1, Byte: 0})
			}
			if !vd.HasErrors() {
				v, vd = expr.Value(&hcl.EvalContext{Functions: functions})
			}
			if vd.HasErrors() {
				shown := fmt.Sprintf("%q", s)
				if d.model.Sensitive {
					shown = "The value"
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail:   fmt.Sprintf("%s: %s is not a valid value for var.%s (%s). Write it in HCL syntax, such as 3000, true, [\"a\", \"b\"] or { a = 1 }.", source, shown, name, d.typ.FriendlyName()),
				})
				d.broken = true
				return
			}
			set(name, source, v, nil)
			return
		}
		set(name, source, cty.StringVal(s), nil)
	}

	for _, kv := range l.opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, EnvPrefix)
		if _, declared := decls[name]; !declared {
			continue // the environment is shared; stray entries are not errors
		}
		raw(name, "environment variable "+k, v)
	}
	for _, f := range l.opts.VarFiles {
		diags = append(diags, l.readVarFile(f, set, func(name string) bool {
			d, ok := decls[name]
			return ok && d.model.Sensitive
		})...)
	}
	for _, vf := range l.opts.Vars {
		raw(vf.Name, "-var "+vf.Name, vf.Value)
	}

	for _, name := range order {
		d := decls[name]
		if d.value == cty.NilVal && d.broken {
			d.value = poisoned()
		}
		if d.value == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("var.%s has no default and no value was given. Set it with -var %s=VALUE, -var-file FILE or the environment variable %s%s, or give it a default.", name, name, EnvPrefix, name),
				Subject:  d.model.DeclRange.Ptr(),
			})
			d.value = poisoned()
		}
		diags = append(diags, d.checkRules()...)
		v := d.value
		if d.model.Sensitive {
			l.addSecrets(v)
			v = v.Mark(sensitiveMark)
		}
		d.model.Value = renderValue(v)
		l.varValues[name] = v
	}
	return diags
}

// readVarFile reads a -var-file: an HCL file of name = value attributes,
// or a JSON object of the same.
// The values of sensitive variables in it are masked in the copy kept for
// snippets (see maskSecrets).
func (l *loader) readVarFile(path string, set func(string, string, cty.Value, *hcl.Range), sensitive func(string) bool) hcl.Diagnostics {
	src, err := ReadSource(path)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read -var-file", Detail: err.Error() + "."}}
	}
	if d := CheckSource(src, path); d.HasErrors() {
		l.plan.Files[path] = &hcl.File{Body: hcl.EmptyBody(), Bytes: displayCopy(src)}
		return d
	}
	// A *.json file is an object of name → value, as Terraform's
	// *.tfvars.json; its strings are literal (no ${...}), as there.
	var f *hcl.File
	var diags hcl.Diagnostics
	var ctx *hcl.EvalContext
	if strings.HasSuffix(path, ".json") {
		f, diags = hcljson.Parse(src, path)
		if len(diags) > 1 { // a syntax error, then its echo about the root
			diags = slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == "Root value must be object" })
		}
	} else {
		f, diags = hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
		ctx = &hcl.EvalContext{Functions: functions}
	}
	if diags.HasErrors() {
		l.plan.Files[path] = &hcl.File{Body: hcl.EmptyBody(), Bytes: displayCopy(src)} // for the snippet
		return diags
	}
	l.plan.Files[path] = f
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		if sensitive(name) {
			l.masks[path] = append(l.masks[path], a.Expr.Range())
		}
		v, vd := a.Expr.Value(ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		set(name, "-var-file "+path, v, a.NameRange.Ptr())
	}
	return diags
}

// renderValue renders a cty value in HCL syntax for review output.
func renderValue(v cty.Value) string {
	v, marks := v.UnmarkDeep()
	if hasMark(marks, sensitiveMark) {
		return "(sensitive)"
	}
	if v.IsNull() {
		return "null"
	}
	if !v.IsKnown() {
		return "(known after apply)"
	}
	switch {
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			parts = append(parts, renderValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.Type().IsMapType() || v.Type().IsObjectType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			parts = append(parts, fmt.Sprintf("%s = %s", k.AsString(), renderValue(e)))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return v.GoString()
}
