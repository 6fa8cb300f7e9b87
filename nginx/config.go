package nginx

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseError is a syntax error in an nginx configuration. It carries the
// position (1-based line and byte column) so that an operator can jump to the
// offending character; nginx itself only reports the line.
type ParseError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error formats the error as FILE:LINE:COLUMN: MSG, the form editors and
// terminals turn into links.
func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// token is one word of a directive, as nginx's ngx_conf_read_token sees it.
type token struct {
	start, end int    // raw bytes src[start:end], quotes included
	val        string // value after nginx's unescaping, quotes removed
	quoted     bool
	line, col  int
}

// directive is a simple (`name args;`) or block (`name args { ... }`)
// directive. args[0] is the name.
type directive struct {
	args     []token
	end      int // offset just past the terminating ';' or the closing '}'
	isBlock  bool
	lua      bool // a `*_by_lua_block`: the body is Lua, opaque bytes, no children
	children []*directive
}

// Config is a parsed nginx configuration file. It keeps the source so that
// edits can be computed against exact byte offsets; it does not follow
// `include` directives (see Includes), because Nonstop only ever edits the one
// file that holds the upstream.
type Config struct {
	filename  string
	src       []byte
	root      []*directive
	upstreams []*Upstream
	includes  []string
}

// Upstream is an `upstream NAME { ... }` block: the unit of membership that
// Nonstop changes.
type Upstream struct {
	Name    string
	Line    int // line of the `upstream` keyword, for messages
	Servers []*Server
}

// Server is one `server ADDRESS [params];` line of an upstream. The exported
// fields describe it for callers (is it down, what weight); the unexported
// offsets let the edit functions touch exactly its bytes.
type Server struct {
	// Address is the address as written (after nginx's unquoting), e.g.
	// "app2:3000", "127.0.0.1:8080", "[::1]:80" or "unix:/run/app.sock".
	Address string
	// Host is the part nginx resolves (brackets of IPv6 literals removed);
	// for unix sockets the whole address.
	Host string
	// Port is empty when the address has none (nginx then uses 80).
	Port string
	// Down reports a `down` parameter: nginx sends this server no requests.
	Down bool
	// Weight is the value of `weight=N`; 0 means not set (nginx's default 1).
	Weight int
	// Params are the parameters after the address, unquoted, in order.
	Params []string
	// Line is the line of the `server` keyword, for messages.
	Line int

	start, end int     // raw directive bytes src[start:end], ';' included
	tokens     []token // tokens[0] = "server", tokens[1] = address
}

// Filename is the name given to ParseConfig, used in error messages.
func (c *Config) Filename() string { return c.filename }

// Source returns the bytes the config was parsed from. Callers must not
// modify them.
func (c *Config) Source() []byte { return c.src }

// Includes lists the arguments of every `include` directive, in file order.
// Nonstop does not follow them; callers use this to explain why an upstream
// that is defined in an included file was not found.
func (c *Config) Includes() []string { return c.includes }

// Upstreams returns every upstream block in file order, in any context (http
// or stream), so that callers can list what exists when a name is wrong.
func (c *Config) Upstreams() []*Upstream { return c.upstreams }

// Upstream returns the first upstream called name. nginx rejects duplicate
// names within one context; across http and stream they can repeat, and the
// edit functions refuse such an ambiguous name instead of guessing.
func (c *Config) Upstream(name string) (*Upstream, bool) {
	for _, u := range c.upstreams {
		if u.Name == name {
			return u, true
		}
	}
	return nil, false
}

// Server returns the first server line whose address is written exactly as
// address (e.g. "app2:3000"). nginx accepts the same address twice in one
// upstream; the edit functions refuse to pick one of such duplicates.
func (u *Upstream) Server(address string) (*Server, bool) {
	for _, s := range u.Servers {
		if s.Address == address {
			return s, true
		}
	}
	return nil, false
}

// ParseConfig parses src the way nginx tokenizes configuration files
// (comments, single and double quotes with backslash escapes, `${var}`,
// blocks), so that Nonstop never disagrees with nginx about where a `server`
// line starts and ends. It returns a *ParseError with line and column for
// input nginx would reject at the syntax level (unbalanced braces, unexpected
// end of file, ...). The body of a `*_by_lua_block` is read as Lua, the way
// lua-nginx-module reads it (see scanLuaBlock), and kept as opaque bytes. It
// never panics. filename is only used in messages.
func ParseConfig(filename string, src []byte) (*Config, error) {
	p := &parser{file: filename, src: src, line: 1}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	c := &Config{filename: filename, src: src, root: root}
	c.collect(root)
	return c, nil
}

// collect walks the directive tree (iteratively, the tree can be deep) and
// records upstreams and includes in file order.
func (c *Config) collect(root []*directive) {
	type frame struct {
		list []*directive
		i    int
	}
	stack := []frame{{list: root}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.i >= len(top.list) {
			stack = stack[:len(stack)-1]
			continue
		}
		d := top.list[top.i]
		top.i++
		name := d.args[0].val
		switch {
		case name == "include" && !d.isBlock && len(d.args) == 2:
			c.includes = append(c.includes, d.args[1].val)
		case name == "upstream" && d.isBlock && len(d.args) == 2:
			c.upstreams = append(c.upstreams, newUpstream(d))
			continue // servers of an upstream hold no further blocks of interest
		}
		if d.isBlock && len(d.children) > 0 {
			stack = append(stack, frame{list: d.children})
		}
	}
}

func newUpstream(d *directive) *Upstream {
	u := &Upstream{Name: d.args[1].val, Line: d.args[0].line}
	for _, sd := range d.children {
		if sd.isBlock || sd.args[0].val != "server" || len(sd.args) < 2 {
			continue
		}
		u.Servers = append(u.Servers, newServer(sd))
	}
	return u
}

func newServer(d *directive) *Server {
	s := &Server{
		Address: d.args[1].val,
		Line:    d.args[0].line,
		start:   d.args[0].start,
		end:     d.end,
		tokens:  d.args,
	}
	s.Host, s.Port = splitAddress(s.Address)
	for _, t := range d.args[2:] {
		s.Params = append(s.Params, t.val)
		switch {
		case t.val == "down":
			s.Down = true
		case strings.HasPrefix(t.val, "weight="):
			// nginx: the last weight= wins; an invalid one fails `nginx -t`.
			if n, err := strconv.Atoi(strings.TrimPrefix(t.val, "weight=")); err == nil && n > 0 {
				s.Weight = n
			} else {
				s.Weight = 0
			}
		}
	}
	return s
}

// splitAddress splits an upstream server address into the host nginx
// resolves and the port.
func splitAddress(addr string) (host, port string) {
	if strings.HasPrefix(addr, "unix:") {
		return addr, ""
	}
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			host = addr[1:i]
			rest := addr[i+1:]
			if strings.HasPrefix(rest, ":") {
				port = rest[1:]
			}
			return host, port
		}
		return addr, ""
	}
	if strings.Count(addr, ":") == 1 {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			return h, p
		}
		i := strings.IndexByte(addr, ':')
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

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
