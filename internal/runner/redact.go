// This file holds the redaction of sensitive values: every string that
// derives from a sensitive variable is replaced before it leaves the
// process (journal, -json events, logs, printed errors), whatever text a
// step type or a library put it in.
package runner

import (
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Hidden replaces a sensitive value in text.
const Hidden = "(sensitive)"

// Redactor replaces a plan's sensitive values in text.
type Redactor struct{ values []string }

// NewRedactor collects the sensitive values of a plan's steps: every
// dsl.String, dsl.StringMap and dsl.StringList flagged sensitive, found by
// walking each step's spec (any step type, no list to keep up to date).
func NewRedactor(p *dsl.Plan) *Redactor {
	seen := map[string]bool{}
	var walk func(v reflect.Value, depth int)
	add := func(s string) {
		if s != "" {
			seen[s] = true
		}
	}
	walk = func(v reflect.Value, depth int) {
		if depth > 8 || !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), depth+1)
			}
			return
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), depth+1)
			}
			return
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Value(), depth+1)
			}
			return
		case reflect.Struct:
		default:
			return
		}
		if !v.CanInterface() {
			return
		}
		switch x := v.Interface().(type) {
		case dsl.String:
			if x.Sensitive {
				add(x.Value)
			}
			return
		case dsl.StringMap:
			if x.Sensitive {
				for _, s := range x.Value {
					add(s)
				}
			}
			return
		case dsl.StringList:
			if x.Sensitive {
				for _, s := range x.Value {
					add(s)
				}
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), depth+1)
			}
		}
	}
	if p != nil {
		for _, s := range p.Steps {
			walk(reflect.ValueOf(s.Spec), 0)
		}
	}
	r := &Redactor{}
	for s := range seen {
		r.values = append(r.values, s)
	}
	// Longest first, so a value that contains another is replaced whole.
	sort.Slice(r.values, func(i, j int) bool {
		if len(r.values[i]) != len(r.values[j]) {
			return len(r.values[i]) > len(r.values[j])
		}
		return r.values[i] < r.values[j]
	})
	return r
}

// String returns s with every sensitive value replaced by Hidden.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, Hidden)
	}
	return s
}

// Writer wraps w so that what is written through it is redacted. Each
// Write is redacted alone: meant for line-oriented writers (logs).
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if r == nil || len(r.values) == 0 {
		return w
	}
	return redactWriter{r, w}
}

type redactWriter struct {
	r *Redactor
	w io.Writer
}

// Write implements io.Writer; it reports len(p) written when the redacted
// text was written whole.
func (rw redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
