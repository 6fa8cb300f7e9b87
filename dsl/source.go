// This file holds the checks every source text passes before HCL parses
// it: it is a regular file, it is text, and its nesting is bounded. HCL's
// parser and evaluator recurse once per level of nesting, so 70,000 nested
// parentheses overflow the Go stack and kill the process; binary input makes
// HCL report an error per byte and echo terminal escapes back.
package dsl

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting bounds how deeply brackets, braces, parentheses, blocks and
// template interpolations may nest in one source. No real plan comes close;
// the bound keeps every recursive walk (parse, evaluation, formatting) far
// from the Go stack limit.
const MaxNesting = 200

// MaxSourceSize bounds a plan file (and a -var-file): a plan is reviewed by
// people, and a generated plan of 10,000 steps is about 2 MB.
const MaxSourceSize = 64 << 20

// ReadSource reads a plan file or a -var-file for parsing. It refuses at
// once anything that is not a regular file (a FIFO or a device would block
// or never end) and files larger than MaxSourceSize.
func ReadSource(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO blocks until a writer appears.
	if info, err := os.Stat(path); err != nil {
		return nil, err
	} else if !info.Mode().IsRegular() {
		return nil, notRegular(path, info.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(path, info.Mode())
	}
	if info.Size() > MaxSourceSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a plan file may hold", path, info.Size(), MaxSourceSize)
	}
	return io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
}

func notRegular(path string, m os.FileMode) error {
	return fmt.Errorf("%s is %s, not a regular file: give the path of a file of HCL text", path, kindOf(m))
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// CheckSource returns one error diagnostic when src cannot be a plan: bytes
// that are not UTF-8 text (NUL, terminal control characters), or nesting
// deeper than MaxNesting. It stops at the first problem: one diagnostic
// instead of one per byte.
func CheckSource(src []byte, filename string) hcl.Diagnostics {
	if off := binaryAt(src); off >= 0 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Not a text file",
			Detail:   fmt.Sprintf("%s holds a byte that is not UTF-8 text (%s) at byte %d: a plan is an HCL text file. Check that this is the file you meant, or remove the byte.", filename, describeByte(src, off), off),
			Subject:  rangeAt(src, filename, off).Ptr(),
		}}
	}
	if off := tooDeep(src); off >= 0 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Nesting too deep",
			Detail:   fmt.Sprintf("Brackets, braces, parentheses and interpolations nest more than %d levels deep here. Split the expression with locals.", MaxNesting),
			Subject:  rangeAt(src, filename, off).Ptr(),
		}}
	}
	return nil
}

// binaryAt returns the offset of the first byte that has no place in a
// text file, or -1: invalid UTF-8, NUL and the other C0 and C1 control
// characters but tab, newline and carriage return.
func binaryAt(src []byte) int {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 || r >= 0x80 && r < 0xa0 {
			return i
		}
		i += n
	}
	return -1
}

func describeByte(src []byte, off int) string {
	r, n := utf8.DecodeRune(src[off:])
	if r == utf8.RuneError && n <= 1 {
		return fmt.Sprintf("0x%02x", src[off])
	}
	return fmt.Sprintf("%U", r)
}

// tooDeep returns the offset of the opening token that nests deeper than
// MaxNesting, or -1. scanDepth answers for most sources in one pass over
// the bytes; a source it cannot follow (a heredoc, a string left open) is
// lexed with HCL's own (non-recursive) scanner, to count exactly what the
// parser will nest.
func tooDeep(src []byte) int {
	if off, ok := scanDepth(src, MaxNesting); ok {
		return off
	}
	return lexDepth(src, MaxNesting)
}

// lexDepth is tooDeep over HCL's tokens.
func lexDepth(src []byte, limit int) int {
	tokens, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	depth := 0
	for _, t := range tokens {
		switch t.Type {
		case hclsyntax.TokenOParen, hclsyntax.TokenOBrack, hclsyntax.TokenOBrace,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			if depth++; depth > limit {
				return t.Range.Start.Byte
			}
		case hclsyntax.TokenCParen, hclsyntax.TokenCBrack, hclsyntax.TokenCBrace,
			hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			depth--
		}
	}
	return -1
}

// scanDepth follows code, quoted strings (with their interpolations) and
// comments the way HCL's lexer does, counting the same levels as lexDepth:
// brackets, quotes and ${ } / %{ }. ok is false for what it does not
// follow (a heredoc, a string not closed on its line, a stray closing
// brace): the caller then lexes. It never counts a closing bracket inside
// a string or a comment, so text there cannot hide real nesting.
func scanDepth(src []byte, limit int) (off int, ok bool) {
	// stack holds what each open level is: '"' a quoted string, '$' an
	// interpolation (${ or %{), or the bracket that opened it. A closing
	// bracket that does not match is left to the lexer, which keeps
	// following an interpolation until its "}".
	var stack []byte
	push := func(c byte) bool {
		stack = append(stack, c)
		return len(stack) > limit
	}
	top := func() byte {
		if len(stack) == 0 {
			return 0
		}
		return stack[len(stack)-1]
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if top() == '"' {
			switch c {
			case '\\':
				i++
			case '\n':
				return -1, false // not closed on its line: let the lexer judge
			case '"':
				stack = stack[:len(stack)-1]
			case '$', '%':
				if i+2 < len(src) && src[i+1] == c && src[i+2] == '{' {
					i += 2 // $${ and %%{ are literal
				} else if i+1 < len(src) && src[i+1] == '{' {
					if push('$') {
						return i, true
					}
					i++
				}
			}
			continue
		}
		switch c {
		case '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			} else if i+1 < len(src) && src[i+1] == '*' {
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					return -1, false
				}
				i += 2 + end + 1
			}
		case '<':
			if i+1 < len(src) && src[i+1] == '<' {
				return -1, false // a heredoc, or a stray "<<": let the lexer judge
			}
		case '"', '(', '[', '{':
			if push(c) {
				return i, true
			}
		case ')', ']', '}':
			open := byte('{')
			switch c {
			case ')':
				open = '('
			case ']':
				open = '['
			}
			if t := top(); t != open && (c != '}' || t != '$') {
				return -1, false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return -1, true
}

// rangeAt is the one-character range at byte offset off of src.
func rangeAt(src []byte, filename string, off int) hcl.Range {
	off = min(off, len(src))
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := 1 + utf8.RuneCount(src[bytes.LastIndexByte(src[:off], '\n')+1:off])
	start := hcl.Pos{Line: line, Column: col, Byte: off}
	end := start
	if off < len(src) {
		end = hcl.Pos{Line: line, Column: col + 1, Byte: off + 1}
	}
	return hcl.Range{Filename: filename, Start: start, End: end}
}

// SourceFile is src as a file for rendering diagnostics' snippets only
// (it has no body): bytes a terminal would obey are replaced, see
// displayCopy. For commands that report on a source they did not Load.
func SourceFile(src []byte) *hcl.File {
	return &hcl.File{Body: hcl.EmptyBody(), Bytes: displayCopy(src)}
}

// displayCopy returns src with every byte that could drive a terminal (the
// ones binaryAt refuses) replaced by '?', byte for byte so that every
// source range still points at the same place: diagnostics print snippets
// of it.
func displayCopy(src []byte) []byte {
	if binaryAt(src) < 0 {
		return src
	}
	out := bytes.Clone(src)
	for i := 0; i < len(out); {
		c := out[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				out[i] = '?'
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(out[i:])
		if r == utf8.RuneError && n <= 1 || r >= 0x80 && r < 0xa0 {
			for k := 0; k < n; k++ {
				out[i+k] = '?'
			}
		}
		i += max(n, 1)
	}
	return out
}
