// This file parses plan files with HCL, after the source checks, and splits
// a file into top-level chunks for located errors.
package dsl

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// chunkSize is the size above which a plan file is parsed in pieces. HCL's
// lexer accumulates the tokens of a whole file in one slice; for a file of
// megabytes (a generated plan of thousands of steps) growing that slice,
// and collecting it, costs more than the lexing itself, and makes parsing
// cost grow faster than the file. Parsing top-level pieces of about this
// size, on every core, keeps the cost per step flat
// (docs/benchmarks.md, "Parsing and graph").
var chunkSize = 64 << 10

// parseFile parses one plan file. A file larger than chunkSize is split
// between top-level blocks, the pieces are parsed in parallel, each with its
// true start position, and their bodies merged: the result is the file HCL
// would have parsed in one go. Whenever a piece does not parse cleanly, the
// whole file is parsed again in one go, so that errors are exactly HCL's.
func parseFile(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	cuts := splitTopLevel(src, chunkSize)
	if len(cuts) == 0 {
		return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	}
	starts := append([]int{0}, cuts...)
	files := make([]*hcl.File, len(starts))
	failed := make([]bool, len(starts))
	// Positions of the pieces: line and column of each cut, counted once.
	pos := make([]hcl.Pos, len(starts))
	pos[0] = hcl.InitialPos
	for i := 1; i < len(starts); i++ {
		prev := pos[i-1]
		lines := bytes.Count(src[starts[i-1]:starts[i]], []byte{'\n'})
		pos[i] = hcl.Pos{Line: prev.Line + lines, Column: 1, Byte: starts[i]}
	}
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(runtime.GOMAXPROCS(0), len(starts))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				end := len(src)
				if i+1 < len(starts) {
					end = starts[i+1]
				}
				f, diags := hclsyntax.ParseConfig(src[starts[i]:end], filename, pos[i])
				files[i], failed[i] = f, diags.HasErrors() || len(diags) > 0
			}
		}()
	}
	for i := range starts {
		next <- i
	}
	close(next)
	wg.Wait()

	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}
	nav := &chunkNav{starts: starts}
	for i, f := range files {
		b, ok := f.Body.(*hclsyntax.Body)
		if failed[i] || !ok {
			return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		}
		for name, a := range b.Attributes {
			if _, dup := body.Attributes[name]; dup {
				// HCL reports a redefined attribute: let it.
				return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
			}
			body.Attributes[name] = a
		}
		body.Blocks = append(body.Blocks, b.Blocks...)
		nav.navs = append(nav.navs, f.Nav)
		body.SrcRange.End, body.EndRange = b.SrcRange.End, b.EndRange
	}
	body.SrcRange.Filename, body.SrcRange.Start = filename, hcl.InitialPos
	return &hcl.File{Body: body, Bytes: src, Nav: nav}, nil
}

// chunkNav answers "which block is this offset in" (the ", in step ..." of
// a rendered diagnostic) from the piece that holds the offset.
type chunkNav struct {
	starts []int
	navs   []any
}

func (n *chunkNav) at(offset int) any {
	i := len(n.starts) - 1
	for i > 0 && n.starts[i] > offset {
		i--
	}
	return n.navs[i]
}

// ContextString implements the interface hcl's diagnostic writer uses.
func (n *chunkNav) ContextString(offset int) string {
	if c, ok := n.at(offset).(interface{ ContextString(int) string }); ok {
		return c.ContextString(offset)
	}
	return ""
}

// ContextDefRange mirrors hclsyntax's navigation.
func (n *chunkNav) ContextDefRange(offset int) hcl.Range {
	if c, ok := n.at(offset).(interface{ ContextDefRange(int) hcl.Range }); ok {
		return c.ContextDefRange(offset)
	}
	return hcl.Range{}
}

// splitTopLevel returns the offsets at which src can be cut into pieces of
// at least size bytes that each hold whole top-level items: each offset is
// the start of a line that begins outside any block, bracket, string,
// heredoc or comment. It returns nil for a small file, or when it finds
// something it does not understand (parseFile then parses the whole file).
// A cut in a wrong place could only make a piece fail to parse, which also
// falls back to parsing the whole file.
func splitTopLevel(src []byte, size int) []int {
	if len(src) < 2*size || bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		return nil
	}
	var cuts []int
	last, depth := 0, 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '#':
			i = skipLine(src, i)
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				i = skipLine(src, i)
			} else if i+1 < len(src) && src[i+1] == '*' {
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					return nil
				}
				i += 2 + end + 1
			}
		case '"':
			if i = skipQuoted(src, i+1); i < 0 {
				return nil
			}
		case '<':
			if j, ok := skipHeredoc(src, i); ok {
				i = j
			} else if j < 0 {
				return nil
			}
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			if depth--; depth < 0 {
				return nil
			}
		case '\n':
			if depth == 0 && i+1-last >= size && len(src)-(i+1) >= max(size/2, 1) {
				cuts = append(cuts, i+1)
				last = i + 1
			}
		}
	}
	if depth != 0 {
		return nil
	}
	return cuts
}

// skipLine returns the offset of the newline ending the line at i (or the
// last offset), so that the caller's loop sees the newline.
func skipLine(src []byte, i int) int {
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j - 1
	}
	return len(src) - 1
}

// skipQuoted skips a quoted template starting after its opening quote and
// returns the offset of the closing quote, or -1.
func skipQuoted(src []byte, i int) int {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i
		case '\n':
			return -1
		case '$', '%':
			if i+2 < len(src) && src[i+1] == src[i] && src[i+2] == '{' {
				i += 2 // $${ and %%{ are literal
			} else if i+1 < len(src) && src[i+1] == '{' {
				if i = skipInterpolation(src, i+2); i < 0 {
					return -1
				}
			}
		}
	}
	return -1
}

// skipInterpolation skips the expression of ${ ... } or %{ ... } starting
// after the brace and returns the offset of the closing brace, or -1.
func skipInterpolation(src []byte, i int) int {
	depth := 0
	for ; i < len(src); i++ {
		switch src[i] {
		case '"':
			if i = skipQuoted(src, i+1); i < 0 {
				return -1
			}
		case '{', '[', '(':
			depth++
		case ']', ')':
			depth--
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		case '<', '#', '/':
			return -1 // heredocs and comments in an interpolation: give up
		}
	}
	return -1
}

// skipHeredoc skips a heredoc starting at the "<<" at i and returns the
// offset of the newline ending its closing marker line, true. It returns
// (i, false) when this is not a heredoc, and (-1, false) when it never ends.
func skipHeredoc(src []byte, i int) (int, bool) {
	j := i + 2
	if j > len(src) || src[i+1] != '<' {
		return i, false
	}
	if j < len(src) && src[j] == '-' {
		j++
	}
	k := j
	for k < len(src) && (src[k] == '_' || src[k] == '-' || 'a' <= src[k] && src[k] <= 'z' || 'A' <= src[k] && src[k] <= 'Z' || k > j && '0' <= src[k] && src[k] <= '9') {
		k++
	}
	if k == j || k >= len(src) || (src[k] != '\n' && (src[k] != '\r' || k+1 >= len(src) || src[k+1] != '\n')) {
		return i, false
	}
	marker := src[j:k]
	for line := bytes.IndexByte(src[k:], '\n') + k + 1; line < len(src); {
		end := bytes.IndexByte(src[line:], '\n')
		if end < 0 {
			end = len(src) - line
		}
		if bytes.Equal(bytes.TrimSpace(src[line:line+end]), marker) {
			return line + end - 1, true
		}
		line += end + 1
	}
	return -1, false
}
