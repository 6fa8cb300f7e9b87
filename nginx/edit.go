// This file holds the text edits: SetDown, SetWeight, AddDetour and
// EndDetour (SetBackup is in backup.go) rewrite exactly the tokens of one
// `server` line of an upstream and keep every other byte, plus the lookups
// and name checks they share.

package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/nonstop-deploy/nonstop/internal/suggest"
)

// ErrNoUpstream is wrapped by edit errors when the file has no upstream of
// the requested name, so that callers (plan validation) can tell a typo in the
// plan from an nginx failure with errors.Is.
var ErrNoUpstream = errors.New("no such upstream")

// ErrNoServer is wrapped by edit errors when the upstream has no `server`
// line with the requested address, for the same reason as ErrNoUpstream.
var ErrNoServer = errors.New("no such server")

// ErrAmbiguous is wrapped when a name matches more than one upstream (http
// and stream may reuse a name) or more than one server line (nginx accepts
// duplicates). Editing only one of them would leave traffic flowing, so the
// edit is refused instead of guessed.
var ErrAmbiguous = errors.New("ambiguous")

// ErrInvalidName is wrapped when an upstream or server name given by the
// caller contains bytes that can never be part of a valid nginx address
// (whitespace, quotes, ';', braces, '#', '\', '$'). Such names come from
// plan files; rejecting them early makes injection impossible by
// construction rather than by luck.
var ErrInvalidName = errors.New("invalid name")

// ErrInvalidWeight is wrapped when SetWeight is asked for a weight nginx
// would not accept (negative, or too large for nginx's integer).
var ErrInvalidWeight = errors.New("invalid weight")

// maxWeight is a bound well inside what nginx's ngx_atoi and its weight sums
// can hold.
const maxWeight = math.MaxInt32 / 1024

// SetDown returns src with the `down` parameter of one upstream server line
// added (down=true) or removed (down=false), changing no other byte of the
// file: that is what makes a rollback byte-identical. Adding appends " down"
// after the line's last parameter; removing deletes the token and one run of
// separating spaces, so SetDown(SetDown(x, true), false) == x whenever x's
// server had no `down`. When the server is already in the requested state, the
// result equals src. Errors wrap ErrNoUpstream, ErrNoServer, ErrAmbiguous,
// ErrInvalidName or a *ParseError.
func SetDown(src []byte, upstream, server string, down bool) ([]byte, error) {
	return setDown("", src, upstream, server, down)
}

// SetWeight returns src with the `weight=N` parameter of one upstream server
// line set to weight, or removed when weight is 0 (nginx's default, 1,
// applies), changing no other byte: used for canary and blue/green shifts
// that must roll back byte for byte. A new parameter is appended after the
// line's last parameter, so SetWeight(SetWeight(x, n), 0) == x whenever x's
// server had no weight. Errors wrap the same sentinels as SetDown plus
// ErrInvalidWeight.
func SetWeight(src []byte, upstream, server string, weight int) ([]byte, error) {
	return setWeight("", src, upstream, server, weight)
}

func setDown(file string, src []byte, upstream, server string, down bool) ([]byte, error) {
	_, s, err := locate(file, src, upstream, server)
	if err != nil {
		return nil, err
	}
	if down {
		if s.Down {
			return bytes.Clone(src), nil
		}
		return insertAfterLast(src, s, "down"), nil
	}
	var idx []int
	for i := 2; i < len(s.tokens); i++ {
		if s.tokens[i].val == "down" {
			idx = append(idx, i)
		}
	}
	return removeTokens(src, s, idx), nil
}

func setWeight(file string, src []byte, upstream, server string, weight int) ([]byte, error) {
	if weight < 0 || weight > maxWeight {
		return nil, fmt.Errorf("%w %d for server %q: must be 1..%d, or 0 to remove the weight", ErrInvalidWeight, weight, server, maxWeight)
	}
	_, s, err := locate(file, src, upstream, server)
	if err != nil {
		return nil, err
	}
	var idx []int
	for i := 2; i < len(s.tokens); i++ {
		if strings.HasPrefix(s.tokens[i].val, "weight=") {
			idx = append(idx, i)
		}
	}
	if weight == 0 {
		return removeTokens(src, s, idx), nil
	}
	want := "weight=" + strconv.Itoa(weight)
	if len(idx) == 0 {
		return insertAfterLast(src, s, want), nil
	}
	// Replace every weight= token (nginx uses the last one; replacing all
	// keeps the line unambiguous), back to front so offsets stay valid.
	out := bytes.Clone(src)
	for k := len(idx) - 1; k >= 0; k-- {
		t := s.tokens[idx[k]]
		if t.val == want {
			continue
		}
		out = splice(out, t.start, t.end, want)
	}
	return out, nil
}

// insertAfterLast appends " word" right after the last token of the server
// line: before any spacing, comment or newline that precedes the ';', so the
// rest of the line keeps its layout.
func insertAfterLast(src []byte, s *Server, word string) []byte {
	at := s.tokens[len(s.tokens)-1].end
	return splice(src, at, at, " "+word)
}

// removeTokens deletes the tokens at the given indexes (ascending) of the
// server line, back to front.
func removeTokens(src []byte, s *Server, idx []int) []byte {
	out := bytes.Clone(src)
	for k := len(idx) - 1; k >= 0; k-- {
		start, end := removalRange(out, s.tokens, idx[k])
		out = splice(out, start, end, "")
	}
	return out
}

// removalRange is the byte range to delete to remove tokens[i] (i >= 2): the
// token plus the spaces/tabs that separate it from the previous token when
// they are on the same line (the inverse of insertAfterLast); otherwise the
// token plus the spaces/tabs after it, so an indented continuation line keeps
// its indentation.
func removalRange(src []byte, tokens []token, i int) (int, int) {
	t := tokens[i]
	prevEnd := tokens[i-1].end
	gap := src[prevEnd:t.start]
	if len(gap) > 0 && len(bytes.Trim(gap, " \t")) == 0 {
		return prevEnd, t.end
	}
	j := t.end
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	return t.start, j
}

func splice(src []byte, start, end int, repl string) []byte {
	out := make([]byte, 0, len(src)-(end-start)+len(repl))
	out = append(out, src[:start]...)
	out = append(out, repl...)
	out = append(out, src[end:]...)
	return out
}

// locate parses src and finds exactly one upstream and exactly one server
// line in it, or explains why not.
func locate(file string, src []byte, upstream, server string) (*Config, *Server, error) {
	if err := validName("upstream", upstream); err != nil {
		return nil, nil, err
	}
	if err := validName("server", server); err != nil {
		return nil, nil, err
	}
	cfg, err := ParseConfig(file, src)
	if err != nil {
		return nil, nil, err
	}
	u, err := cfg.findUpstream(upstream)
	if err != nil {
		return cfg, nil, err
	}
	s, err := u.findServer(cfg.filename, server)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, s, nil
}

func where(file string) string {
	if file == "" {
		return "the config"
	}
	return file
}

// findUpstream returns the single upstream called name, or an error wrapping
// ErrNoUpstream / ErrAmbiguous that names what exists.
func (c *Config) findUpstream(name string) (*Upstream, error) {
	var found []*Upstream
	var names []string
	for _, u := range c.upstreams {
		names = append(names, u.Name)
		if u.Name == name {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		msg := fmt.Sprintf("%s: upstream %q in %s", ErrNoUpstream, name, where(c.filename))
		h := hint(name, names, "upstreams")
		msg += h
		if len(c.includes) > 0 && !strings.Contains(h, "did you mean") {
			msg += fmt.Sprintf("; the file includes %s, but the upstream must be defined in this file", strings.Join(quoteAll(c.includes), ", "))
		}
		return nil, &lookupError{msg: msg, sentinel: ErrNoUpstream}
	default:
		lines := make([]string, len(found))
		for i, u := range found {
			lines[i] = strconv.Itoa(u.Line)
		}
		return nil, &lookupError{
			msg:      fmt.Sprintf("%s: upstream %q is defined %d times in %s (lines %s)", ErrAmbiguous, name, len(found), where(c.filename), strings.Join(lines, ", ")),
			sentinel: ErrAmbiguous,
		}
	}
}

// findServer returns the single server line with the given address, or an
// error wrapping ErrNoServer / ErrAmbiguous.
func (u *Upstream) findServer(file, address string) (*Server, error) {
	var found []*Server
	var names []string
	for _, s := range u.Servers {
		names = append(names, s.Address)
		if s.Address == address {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		msg := fmt.Sprintf("%s: %q in upstream %q (line %d of %s)", ErrNoServer, address, u.Name, u.Line, where(file))
		msg += hint(address, names, "servers")
		return nil, &lookupError{msg: msg, sentinel: ErrNoServer}
	default:
		lines := make([]string, len(found))
		for i, s := range found {
			lines[i] = strconv.Itoa(s.Line)
		}
		return nil, &lookupError{
			msg: fmt.Sprintf("%s: server %q appears %d times in upstream %q (lines %s); mark each line explicitly or merge them",
				ErrAmbiguous, address, len(found), u.Name, strings.Join(lines, ", ")),
			sentinel: ErrAmbiguous,
		}
	}
}

// lookupError carries a full message and unwraps to its sentinel.
type lookupError struct {
	msg      string
	sentinel error
}

// Error returns the full message (names, suggestion, what exists).
func (e *lookupError) Error() string { return e.msg }

// Unwrap exposes the sentinel for errors.Is.
func (e *lookupError) Unwrap() error { return e.sentinel }

// hint renders "; did you mean X?" when a known name is close, and the list
// of known names when it is short.
func hint(name string, known []string, what string) string {
	var out string
	if s := suggest.Closest(name, known); s != "" {
		out += fmt.Sprintf("; did you mean %q?", s)
	}
	switch {
	case len(known) == 0:
		out += fmt.Sprintf(" (there are no %s)", what)
	case len(known) <= 10:
		out += fmt.Sprintf(" (%s: %s)", what, strings.Join(quoteAll(known), ", "))
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// validName rejects names that cannot be an nginx upstream name or server
// address.
func validName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, kind)
	}
	if len(name) > 1024 {
		return fmt.Errorf("%w: %s name longer than 1024 bytes", ErrInvalidName, kind)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch <= ' ' || ch == 0x7f || strings.IndexByte(`;{}"'#\$`, ch) >= 0 {
			return fmt.Errorf("%w: %s name %q contains %s", ErrInvalidName, kind, name, quoteChar(ch))
		}
	}
	return nil
}

// detourLine is the line AddDetour inserts after a server's line at offset
// at: a server with addr, marked as Nonstop's by a comment when nothing but
// spacing or a comment follows on the line (a comment would swallow
// anything else), so EndDetour removes exactly it. server and addr are
// valid names (validName), so no byte of them can end the comment or the
// directive.
func detourLine(src []byte, at int, indent, server, addr string) string {
	line := "\n" + indent + "server " + addr + ";"
	rest := src[at:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	if rest = bytes.TrimLeft(rest, " \t\r"); len(rest) == 0 || rest[0] == '#' {
		line += " # nonstop: detour of " + server
	}
	return line
}

// AddDetour returns src with the server's line marked `down` and, right
// after it, a line `server ADDR; # nonstop: detour of SERVER` with the same
// indentation: nginx sends that server's share of requests to addr, whatever
// the server's name resolves to. It is how a start-first deploy moves a
// single replica's traffic between two containers that answer to the same
// name without ever sending requests to one that is stopping. addr must be
// an IP literal with a port (no name resolution involved). EndDetour is the
// inverse; EndDetour(AddDetour(x)) == x when the server was not down.
func AddDetour(src []byte, upstream, server, addr string) ([]byte, error) {
	return addDetour("", src, upstream, server, addr)
}

// EndDetour removes the line AddDetour inserted after the server's line and
// sets the server's `down` to wasDown. Without a detour line it only sets
// `down`. A detour line that was edited since is an error (it is not
// guessed at).
func EndDetour(src []byte, upstream, server, addr string, wasDown bool) ([]byte, error) {
	return endDetour("", src, upstream, server, addr, wasDown)
}

func addDetour(file string, src []byte, upstream, server, addr string) ([]byte, error) {
	if err := validDetourAddr(addr); err != nil {
		return nil, err
	}
	_, s, err := locate(file, src, upstream, server)
	if err != nil {
		return nil, err
	}
	if hasDetour(src, s, server, addr) {
		return bytes.Clone(src), nil
	}
	// Insert the line first (it is after the token that `down` follows),
	// then `down`.
	out := splice(src, s.end, s.end, detourLine(src, s.end, lineIndent(src, s.start), server, addr))
	if !s.Down {
		out = insertAfterLast(out, s, "down")
	}
	return out, nil
}

func endDetour(file string, src []byte, upstream, server, addr string, wasDown bool) ([]byte, error) {
	if err := validDetourAddr(addr); err != nil {
		return nil, err
	}
	_, s, err := locate(file, src, upstream, server)
	if err != nil {
		return nil, err
	}
	out := src
	if n := detourLen(src, s, server, addr); n > 0 {
		out = splice(src, s.end, s.end+n, "")
	}
	return setDown(file, out, upstream, server, wasDown)
}

// hasDetour reports whether the detour line follows s's line.
func hasDetour(src []byte, s *Server, server, addr string) bool {
	return detourLen(src, s, server, addr) > 0
}

// detourLen is the length of the detour line that follows s's line, with
// or without its comment, or 0.
func detourLen(src []byte, s *Server, server, addr string) int {
	plain := "\n" + lineIndent(src, s.start) + "server " + addr + ";"
	if !bytes.HasPrefix(src[s.end:], []byte(plain)) {
		return 0
	}
	if c := " # nonstop: detour of " + server; bytes.HasPrefix(src[s.end+len(plain):], []byte(c)) {
		return len(plain) + len(c)
	}
	return len(plain)
}

// lineIndent is the run of spaces and tabs before offset at on its line
// ("" when something else precedes it there).
func lineIndent(src []byte, at int) string {
	i := at
	for i > 0 && (src[i-1] == ' ' || src[i-1] == '\t') {
		i--
	}
	if i > 0 && src[i-1] != '\n' {
		return ""
	}
	return string(src[i:at])
}

// validDetourAddr accepts IP:port only: a detour must not depend on name
// resolution, and nothing else can reach the config.
func validDetourAddr(addr string) error {
	if err := validName("detour", addr); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil || port == "" {
		return fmt.Errorf("%w: detour address %q must be IP:port", ErrInvalidName, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: detour address %q has no valid port", ErrInvalidName, addr)
	}
	return nil
}
