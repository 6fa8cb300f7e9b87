// This file holds the decoding helpers step types use: DecodeContext and
// Reader, which read typed attributes with their ranges and diagnostics.
package dsl

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DecodeContext is what a step type's decoder gets besides its body: the
// scope its expressions evaluate in, the plan's docker and nginx blocks, and
// the block header to point at when something is missing.
type DecodeContext struct {
	scope *scope
	// DefRange is the header of the block being decoded; "missing
	// attribute" diagnostics point here.
	DefRange hcl.Range
	// Dir is the folder of the file the block is in; relative paths in the
	// block resolve against it.
	Dir string
	// meta lists the meta-arguments dsl took out of the body first
	// (depends_on, for_each, timeout), so that a typo of one is suggested
	// like a typo of the step type's own arguments.
	meta []string
}

// Block returns a context for a nested block (e.g. http {} inside a
// health_check), so that its missing attributes point at its own header.
func (dc *DecodeContext) Block(b *hcl.Block) *DecodeContext {
	c := *dc
	c.DefRange = b.DefRange
	c.meta = nil
	return &c
}

// Eval evaluates an expression in the step's scope, after checking that
// every name it refers to is declared.
func (dc *DecodeContext) Eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	return dc.scope.eval(expr)
}

// Reader decodes one body against a schema, accumulating diagnostics, so a
// step type's decoder reads as a list of its attributes.
type Reader struct {
	dc      *DecodeContext
	Content *hcl.BodyContent
	diags   hcl.Diagnostics
}

// Read opens body with schema. Missing required attributes are reported
// against the block header, with a detail that says what to add.
func (dc *DecodeContext) Read(body hcl.Body, schema *hcl.BodySchema) *Reader {
	loose := &hcl.BodySchema{Blocks: schema.Blocks}
	for _, a := range schema.Attributes {
		loose.Attributes = append(loose.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	content, diags := body.Content(loose)
	r := &Reader{dc: dc, Content: content, diags: resuggest(diags, loose, content, dc.meta)}
	for _, a := range schema.Attributes {
		if _, ok := content.Attributes[a.Name]; a.Required && !ok {
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing required argument %q", a.Name),
				Detail:   fmt.Sprintf("The argument %q is required here. Add `%s = ...` to this block.", a.Name, a.Name),
				Subject:  dc.DefRange.Ptr(),
			})
		}
	}
	return r
}

// Diags returns everything reported so far.
func (r *Reader) Diags() hcl.Diagnostics { return r.diags }

// Report adds diagnostics found by the caller.
func (r *Reader) Report(d ...*hcl.Diagnostic) { r.diags = append(r.diags, d...) }

// Blocks returns the nested blocks of the given type.
func (r *Reader) Blocks(typ string) []*hcl.Block {
	var out []*hcl.Block
	for _, b := range r.Content.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// Has reports whether the attribute is set.
func (r *Reader) Has(name string) bool {
	_, ok := r.Content.Attributes[name]
	return ok
}

// Range returns the range of an attribute's value, or of the block header.
func (r *Reader) Range(name string) hcl.Range {
	if a, ok := r.Content.Attributes[name]; ok {
		return a.Expr.Range()
	}
	return r.dc.DefRange
}

// value evaluates and converts an attribute; ok is false when absent, null
// or invalid (invalid ones are reported).
func (r *Reader) value(name string, ty cty.Type, what string) (v cty.Value, sensitive bool, rng hcl.Range, ok bool) {
	a, present := r.Content.Attributes[name]
	if !present {
		return cty.NilVal, false, r.dc.DefRange, false
	}
	rng = a.Expr.Range()
	raw, diags := r.dc.Eval(a.Expr)
	r.diags = append(r.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false, rng, false
	}
	raw, marks := raw.UnmarkDeep()
	sensitive = hasMark(marks, sensitiveMark)
	if raw.IsNull() {
		return cty.NilVal, sensitive, rng, false
	}
	if !raw.IsWhollyKnown() {
		if hasMark(marks, poisonMark{}) {
			// Derived from a value whose problem is reported already.
			return cty.NilVal, sensitive, rng, false
		}
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value not known before apply",
			Detail:   fmt.Sprintf("The value of %q must be known when the plan is read.", name),
			Subject:  rng.Ptr(),
		})
		return cty.NilVal, sensitive, rng, false
	}
	if sensitive {
		r.dc.scope.loader.addSecrets(raw)
	}
	conv, err := convert.Convert(raw, ty)
	if err != nil {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect attribute value type",
			Detail:      fmt.Sprintf("%q must be %s: %s.", name, what, err),
			Subject:     rng.Ptr(),
			Expression:  a.Expr,
			EvalContext: r.dc.scope.evalContext(a.Expr),
		})
		return cty.NilVal, sensitive, rng, false
	}
	return conv, sensitive, rng, true
}

// String decodes a string attribute.
func (r *Reader) String(name string) String {
	v, sens, rng, ok := r.value(name, cty.String, "a string")
	if !ok {
		return String{Range: rng, Sensitive: sens}
	}
	return String{Value: v.AsString(), Set: true, Sensitive: sens, Range: rng}
}

// StringDefault decodes a string attribute, with a default when absent.
func (r *Reader) StringDefault(name, def string) String {
	s := r.String(name)
	if !s.Set {
		s.Value = def
	}
	return s
}

// OneOf decodes a string attribute that must be one of the allowed values.
func (r *Reader) OneOf(name, def string, allowed ...string) String {
	s := r.StringDefault(name, def)
	if s.Set {
		for _, a := range allowed {
			if s.Value == a {
				return s
			}
		}
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for %q", name),
			Detail:   fmt.Sprintf("%q is not allowed here. Use one of: %s.%s", s.Value, quoteAll(allowed), didYouMean(s.Value, allowed)),
			Subject:  s.Range.Ptr(),
		})
	}
	return s
}

// MaxDuration bounds every duration of a plan. A deploy step that may take
// more than a day is a typo, and the bound keeps sums of durations (a
// drain_timeout plus the reload budget) far from overflowing into a
// negative deadline.
const MaxDuration = 24 * time.Hour

// Duration decodes a duration such as "500ms", "30s" or "2m", from zero to
// MaxDuration.
func (r *Reader) Duration(name string, def time.Duration) Duration {
	return r.duration(name, def, false)
}

// PositiveDuration decodes a duration that must be more than zero: a
// timeout of "0s" fails every step at once, an interval of "0s" polls in a
// busy loop.
func (r *Reader) PositiveDuration(name string, def time.Duration) Duration {
	return r.duration(name, def, true)
}

func (r *Reader) duration(name string, def time.Duration, positive bool) Duration {
	s := r.String(name)
	if !s.Set {
		return Duration{Value: def, Range: s.Range}
	}
	bad := func(detail string) Duration {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   detail,
			Subject:  s.Range.Ptr(),
		})
		return Duration{Value: def, Range: s.Range}
	}
	d, err := time.ParseDuration(s.Value)
	switch {
	case err != nil || d < 0:
		return bad(fmt.Sprintf("%q is not a duration. Write a number with a unit, such as \"500ms\", \"30s\" or \"2m\".", s.Value))
	case d > MaxDuration:
		return bad(fmt.Sprintf("%q for %q is more than %s, the longest a plan may wait for anything. Give a shorter duration, such as \"30s\" or \"10m\".", s.Value, name, MaxDuration))
	case d == 0 && positive:
		return bad(fmt.Sprintf("%q must be more than zero. Give a duration such as \"500ms\", \"30s\" or \"2m\", or leave it out for the default.", name))
	}
	return Duration{Value: d, Set: true, Range: s.Range}
}

// Name decodes a string that names something (a container, an upstream)
// and so cannot be empty or blank.
func (r *Reader) Name(name string) String {
	s := r.String(name)
	if s.Set && strings.TrimSpace(s.Value) == "" {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Empty %s", name),
			Detail:   fmt.Sprintf("%q names something and cannot be empty. Give the name, such as %s = \"app1\".", name, name),
			Subject:  s.Range.Ptr(),
		})
	}
	return s
}

// Int decodes a whole number within [min, max].
func (r *Reader) Int(name string, def, min, max int) Int {
	v, _, rng, ok := r.value(name, cty.Number, "a number")
	if !ok {
		return Int{Value: def, Range: rng}
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || i < int64(min) || i > int64(max) {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for %q", name),
			Detail:   fmt.Sprintf("%q must be a whole number from %d to %d; got %s.", name, min, max, bf.Text('g', 10)),
			Subject:  rng.Ptr(),
		})
		return Int{Value: def, Range: rng}
	}
	return Int{Value: int(i), Set: true, Range: rng}
}

// Bool decodes a boolean.
func (r *Reader) Bool(name string, def bool) Bool {
	v, _, rng, ok := r.value(name, cty.Bool, "true or false")
	if !ok {
		return Bool{Value: def, Range: rng}
	}
	return Bool{Value: v.True(), Set: true, Range: rng}
}

// StringMap decodes a map of strings, such as env.
func (r *Reader) StringMap(name string) StringMap {
	v, sens, rng, ok := r.value(name, cty.Map(cty.String), "a map of strings, like { KEY = \"value\" }")
	if !ok {
		return StringMap{Range: rng, Sensitive: sens}
	}
	m := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			continue
		}
		m[k] = e.AsString()
	}
	return StringMap{Value: m, Set: true, Sensitive: sens, Range: rng}
}

// StringList decodes a list of strings, such as an exec argv.
func (r *Reader) StringList(name string) StringList {
	v, sens, rng, ok := r.value(name, cty.List(cty.String), "a list of strings, like [\"a\", \"b\"]")
	if !ok {
		return StringList{Range: rng, Sensitive: sens}
	}
	var l []string
	for _, e := range v.AsValueSlice() {
		if !e.IsNull() {
			l = append(l, e.AsString())
		}
	}
	return StringList{Value: l, Set: true, Sensitive: sens, Range: rng}
}

// Nginx decodes a reference to an nginx block, such as `nginx = nginx.proxy`.
func (r *Reader) Nginx(name string) *Nginx {
	a, ok := r.Content.Attributes[name]
	if !ok {
		return nil
	}
	ref, diags := r.dc.scope.loader.blockRef(a.Expr, "nginx")
	r.diags = append(r.diags, diags...)
	if ref == "" {
		return nil
	}
	return r.dc.scope.loader.nginxByName[ref].model
}

// Docker decodes an optional reference to a docker block. When absent, the
// plan's only docker block is used; with none, nil means the default engine.
func (r *Reader) Docker(name string) *Docker {
	l := r.dc.scope.loader
	a, ok := r.Content.Attributes[name]
	if !ok {
		if len(l.plan.Docker) == 1 {
			return l.plan.Docker[0]
		}
		return nil
	}
	ref, diags := l.blockRef(a.Expr, "docker")
	r.diags = append(r.diags, diags...)
	if ref == "" {
		return nil
	}
	return l.dockerByName[ref].model
}

// Path decodes a file path, made absolute against the plan file's folder.
func (r *Reader) Path(name string) String {
	s := r.String(name)
	if s.Set && s.Value != "" && !strings.HasPrefix(s.Value, "/") {
		s.Value = joinPath(r.dc.Dir, s.Value)
	}
	return s
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// FormatValue renders a value for review output in HCL syntax, with map keys
// sorted so output is stable.
func FormatValue(v any) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("%q", t)
	case map[string]string:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s = %q", k, t[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case []string:
		return "[" + quoteAll(t) + "]"
	case time.Duration:
		return t.String()
	default:
		return fmt.Sprint(t)
	}
}
