package dsl

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// sameParse checks that parseFile, cutting src into pieces of about size
// bytes, gives what parsing it whole gives: the same body, block for block,
// and the same diagnostics.
func sameParse(t *testing.T, src []byte, size int) (chunked bool) {
	t.Helper()
	defer func(old int) { chunkSize = old }(chunkSize)
	chunkSize = size
	want, wantDiags := hclsyntax.ParseConfig(src, "plan.hcl", hcl.InitialPos)
	got, gotDiags := parseFile(src, "plan.hcl")
	if !reflect.DeepEqual(gotDiags, wantDiags) {
		t.Fatalf("diagnostics differ:\n got %v\nwant %v", gotDiags, wantDiags)
	}
	if wantDiags.HasErrors() {
		return false
	}
	if !reflect.DeepEqual(got.Body, want.Body) {
		t.Fatalf("bodies differ for:\n%s", src)
	}
	if _, ok := got.Nav.(*chunkNav); !ok {
		return false
	}
	// The context of every block is found as in the whole file.
	cs := want.Nav.(interface{ ContextString(int) string })
	for _, b := range want.Body.(*hclsyntax.Body).Blocks {
		off := b.Body.SrcRange.End.Byte - 1
		if g, w := got.Nav.(*chunkNav).ContextString(off), cs.ContextString(off); g != w {
			t.Errorf("context at %d: %q, want %q", off, g, w)
		}
	}
	return true
}

func TestParseFileChunked(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"testdata/valid/*.hcl", "testdata/valid/*/*.hcl", "testdata/invalid/*.hcl", "testdata/invalid/*/*.hcl", "../plans/*.hcl"} {
		m, _ := filepath.Glob(pattern)
		paths = append(paths, m...)
	}
	chunked := 0
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(p, func(t *testing.T) {
			for _, size := range []int{1, 16, 200} {
				if sameParse(t, src, size) {
					chunked++
				}
			}
		})
	}
	if chunked < len(paths) {
		t.Errorf("only %d of %d parses were split: the test tests little", chunked, 3*len(paths))
	}
}

func TestSplitTopLevel(t *testing.T) {
	cases := []struct {
		name string
		src  string
		cuts int // -1: gives up
	}{
		{"blocks", "a {\n}\nb {\n}\nc = 1\n", 2},
		{"nested", "a {\n  b {\n  }\n}\nc {\n}\n", 1},
		{"string with brace", "a = \"}\\\"{\"\nb = 1\n", 1},
		{"interpolation", "a = \"${ {x = \"}\"}.x }\"\nb = 1\n", 1},
		{"escaped interpolation", "a = \"$${\"\nb = 1\n", 1},
		{"heredoc", "a = <<EOT\n}\n{\nEOT\nb = 1\n", 1},
		{"indented heredoc", "a = <<-EOT\n  }\n  EOT\nb = 1\n", 1},
		{"comments", "# {\n// {\n/* {\n*/\nb = 1\n", 3},
		{"unclosed block", "a {\nb = 1\n", -1},
		{"unclosed comment", "/* a\nb = 1\n", -1},
		{"unterminated heredoc", "a = <<EOT\nb = 1\n", -1},
		{"newline in string", "a = \"x\ny\"\n", -1},
		{"stray brace", "}\na = 1\n", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cuts := splitTopLevel([]byte(c.src), 1)
			if c.cuts < 0 {
				if cuts != nil {
					t.Errorf("cut at %v, want none", cuts)
				}
				return
			}
			if len(cuts) != c.cuts {
				t.Errorf("cuts %v, want %d", cuts, c.cuts)
			}
			for _, at := range cuts {
				if at == 0 || c.src[at-1] != '\n' {
					t.Errorf("cut at %d is not at the start of a line", at)
				}
			}
		})
	}
	if cuts := splitTopLevel([]byte(strings.Repeat("a = 1\n", 10)), 1<<10); cuts != nil {
		t.Errorf("a small file is cut: %v", cuts)
	}
}

// FuzzParseFile checks the split parse against HCL's own on any input.
//
//	go test -run=NONE -fuzz=FuzzParseFile -fuzztime=1m ./dsl
func FuzzParseFile(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.hcl", "testdata/invalid/*.hcl"} {
		m, _ := filepath.Glob(pattern)
		for _, p := range m {
			src, _ := os.ReadFile(p)
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		sameParse(t, src, 8)
	})
}
