// This file tells `plan diff` whether a sensitive attribute changed
// without ever holding its value in the output: Describe renders it as
// "(sensitive)" on both sides, so the decoded specs are compared instead,
// by a digest of the field behind the attribute.
package render

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// sameSecret reports whether the sensitive attribute name holds the same
// value in both specs. It walks the field of each spec whose name matches
// the attribute's (env → Env, expect_body → ExpectBody), or, when none
// does (an attribute such as http that a nested block describes), the
// whole spec. Source ranges are left out: moving a block is no change.
// With no spec to compare it answers false, so a change is never hidden.
// The digests are compared and dropped, never printed: a hash of a short
// secret is a guessable secret.
func sameSecret(attr string, o, n dsl.Spec) bool {
	if o == nil || n == nil {
		return false
	}
	return digest(field(o, attr)) == digest(field(n, attr))
}

// sameSecretVar reports whether a sensitive variable has the same value in
// both plans. The loader keeps no sensitive value, not even a default: a
// value from -var, -var-file or the environment is the same for both
// plans (diff reads them once), so the value differs only when its source
// does, or the source text of its default.
func sameSecretVar(op *dsl.Plan, o *dsl.Variable, np *dsl.Plan, n *dsl.Variable) bool {
	if o.Source != n.Source {
		return false
	}
	if o.Source != "default" {
		return true
	}
	ot, ok1 := sourceText(op, o.Default)
	nt, ok2 := sourceText(np, n.Default)
	return ok1 && ok2 && ot == nt
}

// sourceText is the text of the expression a value was decoded from.
func sourceText(p *dsl.Plan, s *dsl.String) (string, bool) {
	if s == nil {
		return "", false
	}
	f, ok := p.Files[s.Range.Filename]
	if !ok || s.Range.End.Byte > len(f.Bytes) || s.Range.Start.Byte > s.Range.End.Byte {
		return "", false
	}
	return string(f.Bytes[s.Range.Start.Byte:s.Range.End.Byte]), true
}

// field is the spec's field named like attr, or the spec itself.
func field(spec dsl.Spec, attr string) reflect.Value {
	v := reflect.ValueOf(spec)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return v
	}
	want := strings.ReplaceAll(attr, "_", "")
	for i := 0; i < v.NumField(); i++ {
		if strings.EqualFold(v.Type().Field(i).Name, want) {
			return v.Field(i)
		}
	}
	return v
}

var rangeType = reflect.TypeOf(hcl.Range{})

// digest hashes a value's content: strings, numbers, booleans, and what
// structs, pointers, slices and maps hold, in a stable order.
func digest(v reflect.Value) string {
	h := sha256.New()
	walk(h, v, 0, map[uintptr]bool{})
	return string(h.Sum(nil))
}

func walk(h hash.Hash, v reflect.Value, depth int, seen map[uintptr]bool) {
	if depth > 32 || !v.IsValid() {
		fmt.Fprint(h, "∅")
		return
	}
	if v.Type() == rangeType || v.Type().PkgPath() == "github.com/hashicorp/hcl/v2" {
		return // where, not what; and HCL's own trees (files, expressions)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			fmt.Fprint(h, "nil;")
			return
		}
		if seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walk(h, v.Elem(), depth+1, seen)
	case reflect.Interface:
		if v.IsNil() {
			fmt.Fprint(h, "nil;")
			return
		}
		fmt.Fprintf(h, "%s:", v.Elem().Type())
		walk(h, v.Elem(), depth+1, seen)
	case reflect.Struct:
		fmt.Fprint(h, "{")
		for i := 0; i < v.NumField(); i++ {
			fmt.Fprintf(h, "%s=", v.Type().Field(i).Name)
			walk(h, v.Field(i), depth+1, seen)
		}
		fmt.Fprint(h, "}")
	case reflect.Slice, reflect.Array:
		fmt.Fprintf(h, "[%d:", v.Len())
		for i := 0; i < v.Len(); i++ {
			walk(h, v.Index(i), depth+1, seen)
		}
		fmt.Fprint(h, "]")
	case reflect.Map:
		// Each entry digested on its own, then sorted: map order varies.
		var entries []string
		iter := v.MapRange()
		for iter.Next() {
			eh := sha256.New()
			walk(eh, iter.Key(), depth+1, seen)
			fmt.Fprint(eh, "=")
			walk(eh, iter.Value(), depth+1, seen)
			entries = append(entries, string(eh.Sum(nil)))
		}
		sort.Strings(entries)
		fmt.Fprintf(h, "map%d:%s;", len(entries), strings.Join(entries, ""))
	case reflect.String:
		fmt.Fprintf(h, "%q;", v.String())
	case reflect.Bool:
		fmt.Fprintf(h, "%t;", v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fmt.Fprintf(h, "%d;", v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		fmt.Fprintf(h, "%d;", v.Uint())
	case reflect.Float32, reflect.Float64:
		fmt.Fprintf(h, "%v;", v.Float())
	default:
		// funcs, channels: no content to compare.
	}
}
