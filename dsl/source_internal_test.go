package dsl

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// FuzzNesting holds scanDepth (the one-pass nesting count every text plan
// goes through) to HCL's lexer: whatever the lexer finds too deep, scanDepth
// finds too deep too, unless it hands the source to the lexer; and on a
// source that parses, both agree on where. Text in strings and comments
// must never hide real nesting.
//
//	go test -run=NONE -fuzz=FuzzNesting -fuzztime=2m ./dsl
func FuzzNesting(f *testing.F) {
	for _, s := range []string{
		`x = ((((1))))`,
		`x = "${"${"${1}"}"}"`,
		`x = ( ")" ( ")" ( ")" 1 ) ) )`,
		"# ))))))\nx = ((((1))))",
		"/* ]]]] */ x = [[[[1]]]]",
		"x = \"%{ if true }(((%{ endif }\"",
		"x = <<EOT\n)))\nEOT\ny = ((((1))))",
		`x = "$${(((" y = {{{{}}}}`,
		`x = "\"(((" z = [[[[ ]]]]`,
		"a { b { c { d = 1 } } }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		const limit = 3
		if binaryAt([]byte(src)) >= 0 {
			return // refused before nesting is counted (CheckSource)
		}
		got, ok := scanDepth([]byte(src), limit)
		if !ok {
			return
		}
		want := lexDepth([]byte(src), limit)
		if want >= 0 && got < 0 {
			t.Fatalf("the lexer finds nesting past %d at byte %d; scanDepth finds none", limit, want)
		}
		if _, diags := hclsyntax.ParseConfig([]byte(src), "x.hcl", hcl.InitialPos); !diags.HasErrors() && got != want {
			t.Fatalf("valid source: scanDepth says %d, the lexer %d", got, want)
		}
	})
}

// TestScanDepthCannotBeFooled: closing brackets in strings, comments and
// heredocs do not cancel real nesting.
func TestScanDepthCannotBeFooled(t *testing.T) {
	n := MaxNesting + 5
	for name, src := range map[string]string{
		"closers in strings":   "x = " + strings.Repeat(`( ")" `, n) + "1" + strings.Repeat(")", n),
		"closers in comments":  "# " + strings.Repeat(")", 10*n) + "\nx = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n),
		"closers in heredocs":  "y = <<EOT\n" + strings.Repeat(")", 10*n) + "\nEOT\nx = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n),
		"closers in /* */":     "/*" + strings.Repeat("]", 10*n) + "*/ x = " + strings.Repeat("[", n) + "1" + strings.Repeat("]", n),
		"closers after escape": "x = " + strings.Repeat(`("\")" `, n) + "1" + strings.Repeat(")", n),
	} {
		if tooDeep([]byte(src)) < 0 {
			t.Errorf("%s: nesting of %d not found", name, n)
		}
	}
}
