// This file holds the parsed form of an nginx configuration (Config,
// Upstream, Server) and ParseConfig, which builds it from the tokenizer.
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
