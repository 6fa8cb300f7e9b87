package nginx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are configs exercising the tokenizer's corners; the seed file is
// added from disk.
var fuzzSeeds = []string{
	"upstream u {\n    server a:1;\n    server b:1 weight=5 max_fails=3;\n}\n",
	"upstream u {\r\n  server a:1 down;\r\n  server b:1 backup;\r\n}\r\n",
	"upstream u {\n  # server a:1;\n  server\n    a:1 # c\n    weight=2\n    ;\n}\n",
	"http { log_format m '$a;{}'; add_header X \"a\\\"b;\"; upstream u { server \"a:1\" 'down'; server a\\;b:1; } }",
	"map $h $x { default a}b; } server { set $a ${b}c#d; }\nupstream u{server a:1;}",
	"stream { upstream db { server db1:5432; } } http { upstream db { server x:1; } }",
	"upstream u {\tserver\t[::1]:80\tweight=1 ; server unix:/x.sock ; }",
	// Lua blocks: braces in strings, long brackets and comments.
	"http { init_by_lua_block { x = { \"}\", '{', [==[ ]] } ]==] } -- }\n }\n upstream u { server a:1; balancer_by_lua_block { b.balance() --[[ } ]] } } }",
	"location / { content_by_lua_block { ngx.say(\"\\\"}\") } }\nupstream u { server a:1 down; }",
	"upstream u { server a:1; }\nset_by_lua_block $r { return \"a\" .. [[}]] }\nlog_by_lua_block { --[=[\n}\n]=] x = 'it\\'s {' }",
	"content_by_lua_block { x = \"unterminated }\nupstream u { server a:1; }",
	"access_by_lua_block {\r\n -- }\r\n}\r\nupstream u {\r\n server a:1;\r\n}\r\n",
}

// luaFixtureSeeds adds the Lua fixtures of testdata/lua to a corpus.
func luaFixtureSeeds(add func([]byte)) {
	names, _ := filepath.Glob(filepath.Join("testdata", "lua", "*.conf"))
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil {
			add(b)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	if seed, err := os.ReadFile("../plans/proxy/nginx.conf"); err == nil {
		f.Add(seed)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	luaFixtureSeeds(func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Column < 1 {
				t.Fatalf("bad error %T %v", err, err)
			}
			return
		}
		for _, u := range cfg.Upstreams() {
			if validName("upstream", u.Name) != nil {
				continue
			}
			if _, err := cfg.findUpstream(u.Name); err != nil {
				continue // ambiguous
			}
			for _, s := range u.Servers {
				if validName("server", s.Address) != nil {
					continue
				}
				if _, err := u.findServer("", s.Address); err != nil {
					continue // duplicate address
				}
				if !s.Down {
					out, err := SetDown(data, u.Name, s.Address, true)
					if err != nil {
						t.Fatalf("SetDown(%q, %q): %v", u.Name, s.Address, err)
					}
					checkOnlyParamChanged(t, data, out, u.Name, s.Address, "down")
					back, err := SetDown(out, u.Name, s.Address, false)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(back, data) {
						t.Fatalf("SetDown round trip:\n in %q\nout %q\nback %q", data, out, back)
					}
				}
				if !slices.ContainsFunc(s.Params, func(p string) bool { return strings.HasPrefix(p, "weight=") }) {
					out, err := SetWeight(data, u.Name, s.Address, 7)
					if err != nil {
						t.Fatal(err)
					}
					checkOnlyParamChanged(t, data, out, u.Name, s.Address, "weight=7")
					back, err := SetWeight(out, u.Name, s.Address, 0)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(back, data) {
						t.Fatalf("SetWeight round trip:\n in %q\nout %q\nback %q", data, out, back)
					}
				}
			}
		}
	})
}

func FuzzSetDown(f *testing.F) {
	if seed, err := os.ReadFile("../plans/proxy/nginx.conf"); err == nil {
		f.Add(seed, "apps", "app2:3000", true)
		f.Add(seed, "apps", "app1:3000", false)
		f.Add(seed, "apps", "app2:3000;", true)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "u", "a:1", true)
		f.Add([]byte(s), "u", "a:1", false)
	}
	luaFixtureSeeds(func(b []byte) {
		f.Add(b, "apps", "127.0.0.1:3001", true)
		f.Add(b, "backend", "127.0.0.1:3002", true)
	})
	f.Fuzz(func(t *testing.T, data []byte, upstream, server string, down bool) {
		out, err := SetDown(data, upstream, server, down)
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			return
		}
		if validName("server", server) != nil || validName("upstream", upstream) != nil {
			t.Fatalf("invalid name %q/%q accepted", upstream, server)
		}
		cfg, err := ParseConfig("out", out)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		u, ok := cfg.Upstream(upstream)
		if !ok {
			t.Fatal("upstream gone")
		}
		s, ok := u.Server(server)
		if !ok || s.Down != down {
			t.Fatalf("server %q: found %v, down %v, want %v", server, ok, s != nil && s.Down, down)
		}
		if bytes.Equal(out, data) {
			return
		}
		if down {
			checkOnlyParamChanged(t, data, out, upstream, server, "down")
			if back, _ := SetDown(out, upstream, server, false); !bytes.Equal(back, data) {
				t.Fatalf("round trip:\n in %q\nback %q", data, back)
			}
			return
		}
		checkServerEdit(t, data, out, upstream, server, func(v []string) []string {
			return append(v[:2:2], slices.DeleteFunc(v[2:], func(p string) bool { return p == "down" })...)
		})
	})
}

// FuzzDetour: a detour adds exactly one server line for addr and marks the
// server down, and ending it gives back the input byte for byte.
func FuzzDetour(f *testing.F) {
	if seed, err := os.ReadFile("../plans/proxy/nginx.conf"); err == nil {
		f.Add(seed, "apps", "app1:3000", "172.18.0.5:3000")
		f.Add(seed, "apps", "app2:3000", "[::1]:3000")
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "u", "a:1", "10.0.0.1:1")
	}
	f.Fuzz(func(t *testing.T, data []byte, upstream, server, addr string) {
		out, err := AddDetour(data, upstream, server, addr)
		if err != nil {
			return
		}
		cfg, err := ParseConfig("out", out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
		u, ok := cfg.Upstream(upstream)
		if !ok {
			t.Fatal("upstream gone")
		}
		if s, ok := u.Server(server); !ok || !s.Down {
			t.Fatalf("server %q not down after the detour", server)
		}
		in, _ := ParseConfig("in", data)
		iu, _ := in.Upstream(upstream)
		if len(u.Servers) != len(iu.Servers)+1 && !bytes.Equal(out, data) {
			t.Fatalf("%d servers after the detour, %d before", len(u.Servers), len(iu.Servers))
		}
		was := false
		if s, ok := iu.Server(server); ok {
			was = s.Down
		}
		back, err := EndDetour(out, upstream, server, addr, was)
		if err != nil {
			t.Fatalf("EndDetour: %v", err)
		}
		if !bytes.Equal(back, data) && !bytes.Equal(out, data) {
			t.Fatalf("round trip:\n in %q\nout %q\nback %q", data, out, back)
		}
	})
}

// luaTokenRE is lua-nginx-module's lexer as util/gen-lexer-c defines it: the
// eight patterns given to the sregex compiler, whose leftmost-first
// semantics Go's regexp shares. luaReference reads a Lua block with it, as
// ngx_http_lua_conf_lua_block_parse does, to check scanLuaBlock against.
var (
	luaTokenRE = regexp.MustCompile(`\{|\}|\[=*\[|--\[=*\[|\]=*\]|--[^\n]*|"(?:\\[^\n]|[^"\n\\])*"|'(?:\\[^\n]|[^'\n\\])*'`)
	luaOpenRE  = regexp.MustCompile(`^(?:--)?\[(=*)\[$`)
)

// luaReference returns the offset of the '}' closing the Lua block that
// starts at start, or -1 for any error. Like nginx, it sees no more than
// ngxConfBuffer bytes past the end of the previous token: a match must lie
// within them, so a string that would close further is no match (its quote
// is skipped), and any other token that would end further is an error.
func luaReference(src []byte, start int) int {
	level, tokStart := 1, start
	for {
		limit := min(tokStart+ngxConfBuffer, len(src))
		loc := luaTokenRE.FindIndex(src[tokStart:limit])
		if loc == nil {
			return -1
		}
		from, end := tokStart+loc[0], tokStart+loc[1]
		m := src[from:end]
		if m[0] == '-' && end == limit && limit < len(src) && src[limit] != '\n' {
			return -1 // the line comment goes on past the limit
		}
		if open := luaOpenRE.FindSubmatch(m); open != nil {
			closing := "]" + string(open[1]) + "]"
			j := bytes.Index(src[end:], []byte(closing))
			if j < 0 || end+j+len(closing) > limit {
				return -1
			}
			end += j + len(closing)
		}
		switch string(m) {
		case "{":
			level++
		case "}":
			if level--; level == 0 {
				return from
			}
		}
		tokStart = end
	}
}

// FuzzLuaBlock: scanLuaBlock finds the same end as the reference built from
// lua-nginx-module's own patterns, and its errors lie inside the input.
func FuzzLuaBlock(f *testing.F) {
	for _, c := range luaCases {
		f.Add([]byte(c.src))
	}
	luaFixtureSeeds(func(b []byte) {
		if i := bytes.Index(b, []byte("_by_lua_block {")); i >= 0 {
			f.Add(b[i+len("_by_lua_block {"):])
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := scanLuaBlock(data, 0)
		want := luaReference(data, 0)
		if err != nil {
			if err.off < 0 || err.off > len(data) || err.msg == "" {
				t.Fatalf("error outside the input: %+v", err)
			}
			if want != -1 {
				t.Fatalf("scanLuaBlock: %s at %d; the reference ends the block at %d", err.msg, err.off, want)
			}
			return
		}
		if got != want || data[got] != '}' {
			t.Fatalf("scanLuaBlock ends the block at %d, the reference at %d", got, want)
		}
	})
}
