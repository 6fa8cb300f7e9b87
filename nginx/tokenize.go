// This file holds the tokenizer of nginx configuration files: nginx's own
// rules for words, quotes, escapes, comments and blocks, with byte offsets
// kept so that edits can be minimal.
package nginx

import (
	"fmt"
	"strconv"
	"strings"
)

// parser is a port of nginx's ngx_conf_read_token state machine (nginx
// 1.22, src/core/ngx_conf_file.c) plus the block structure of
// ngx_conf_parse, kept iterative so that hostile nesting cannot exhaust the
// stack.
type parser struct {
	file      string
	src       []byte
	line      int
	lineStart int
}

func (p *parser) errAt(off int, format string, args ...any) error {
	line, col := p.position(off)
	return &ParseError{File: p.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// position computes line and column of offset off by counting; it is only
// used on the error path and for tokens (see tokenPos).
func (p *parser) position(off int) (int, int) {
	if off > len(p.src) {
		off = len(p.src)
	}
	line, start := 1, 0
	for i := 0; i < off; i++ {
		if p.src[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, off - start + 1
}

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' }

// quoteChar renders a byte for an "unexpected X" message.
func quoteChar(ch byte) string {
	if ch >= 0x20 && ch < 0x7f {
		return strconv.Quote(string(ch))
	}
	return fmt.Sprintf("byte 0x%02x", ch)
}

func (p *parser) parse() ([]*directive, error) {
	type open struct {
		d   *directive
		off int // offset of '{'
	}
	var (
		root  []*directive
		stack []open
		args  []token

		lastSpace = true
		needSpace bool
		escaped   bool // nginx: quoted
		sQuoted   bool
		dQuoted   bool
		variable  bool
		comment   bool
		tokStart  int
		tokLine   int
		tokCol    int
	)
	add := func(d *directive) {
		if len(stack) == 0 {
			root = append(root, d)
		} else {
			top := stack[len(stack)-1].d
			top.children = append(top.children, d)
		}
	}
	reset := func() {
		lastSpace, needSpace, escaped, sQuoted, dQuoted, variable = true, false, false, false, false, false
	}
	// end handles ';' or '{' at offset *i terminating the current directive.
	// A Lua block is read whole: *i moves to its closing '}'.
	end := func(i *int, ch byte) error {
		if len(args) == 0 {
			return p.errAt(*i, "unexpected %s", quoteChar(ch))
		}
		d := &directive{args: args, end: *i + 1}
		args = nil
		add(d)
		reset()
		switch {
		case ch == '{' && isLuaBlock(d.args[0].val):
			d.isBlock, d.lua = true, true
			closeOff, lerr := scanLuaBlock(p.src, *i+1)
			if lerr != nil {
				return p.errAt(lerr.off, "in %q: %s", d.args[0].val, lerr.msg)
			}
			p.advance(*i+1, closeOff)
			*i, d.end = closeOff, closeOff+1
		case ch == '{':
			d.isBlock = true
			stack = append(stack, open{d: d, off: *i})
		}
		return nil
	}
	src := p.src
	for i := 0; i < len(src); i++ {
		ch := src[i]
		if ch == '\n' {
			p.line++
			p.lineStart = i + 1
			comment = false
			// fall through: LF is whitespace for the rest of the machine
		}
		if comment {
			continue
		}
		if escaped {
			escaped = false
			continue
		}
		if needSpace {
			switch {
			case isSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';' || ch == '{':
				if err := end(&i, ch); err != nil {
					return nil, err
				}
				continue
			case ch == ')':
				lastSpace, needSpace = true, false
			default:
				return nil, p.errAt(i, "unexpected %s", quoteChar(ch))
			}
		}
		if lastSpace {
			if isSpace(ch) {
				continue
			}
			tokStart = i
			tokLine = p.line
			tokCol = i - p.lineStart + 1
			switch ch {
			case ';', '{':
				if err := end(&i, ch); err != nil {
					return nil, err
				}
			case '}':
				if len(args) != 0 {
					return nil, p.errAt(i, `unexpected "}"`)
				}
				if len(stack) == 0 {
					return nil, p.errAt(i, `unexpected "}"`)
				}
				stack[len(stack)-1].d.end = i + 1
				stack = stack[:len(stack)-1]
				reset()
			case '#':
				comment = true
			case '\\':
				escaped = true
				lastSpace = false
			case '"':
				dQuoted = true
				lastSpace = false
			case '\'':
				sQuoted = true
				lastSpace = false
			case '$':
				variable = true
				lastSpace = false
			default:
				lastSpace = false
			}
			continue
		}
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			escaped = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		found := false
		if dQuoted {
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		} else if sQuoted {
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		} else if isSpace(ch) || ch == ';' || ch == '{' {
			lastSpace, found = true, true
		}
		if !found {
			continue
		}
		t := token{start: tokStart, line: tokLine, col: tokCol}
		if needSpace { // a quoted token: value between the quotes
			t.quoted = true
			t.end = i + 1
			t.val = unescape(src[tokStart+1 : i])
		} else {
			t.end = i
			t.val = unescape(src[tokStart:i])
		}
		args = append(args, t)
		if ch == ';' || ch == '{' {
			if err := end(&i, ch); err != nil {
				return nil, err
			}
		}
	}
	if len(args) > 0 || !lastSpace {
		return nil, p.errAt(len(src), `unexpected end of file, expecting ";" or "}"`)
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		line, col := p.position(o.off)
		return nil, p.errAt(len(src), `unexpected end of file, expecting "}" (block %q opened at %d:%d is not closed)`,
			o.d.args[0].val, line, col)
	}
	return root, nil
}

// unescape applies nginx's unescaping of a token: \" \' \\ lose the
// backslash, \t \r \n become the control characters, any other backslash
// stays.
func unescape(raw []byte) string {
	if !strings.Contains(string(raw), `\`) {
		return string(raw)
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			switch raw[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}
