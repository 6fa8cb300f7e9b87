package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// luaPrefix opens the Lua block of every luaCases source.
const luaPrefix = "content_by_lua_block {"

// luaCases are Lua block bodies (what follows luaPrefix) and how
// lua-nginx-module reads them: body is the Lua source up to the closing '}',
// err the exact error of ParseConfig("f", luaPrefix+src). The integration
// test TestLuaCasesAgainstNginx checks nginx accepts exactly the ones
// without err, unless nginxErr names an error nginx finds past the syntax.
var luaCases = []struct {
	name, src, body, err string
	nginxErr             string
}{
	{name: "plain", src: `ngx.say("hello") }`, body: `ngx.say("hello") `},
	{name: "empty", src: `}`, body: ``, nginxErr: "no runnable Lua code"},
	{name: "an empty table", src: `{}}`, body: `{}`},
	{name: "compact with a table", src: `ngx.say("hello", {"!"})}`, body: `ngx.say("hello", {"!"})`},
	{name: "braces in strings", src: "ngx.say(\"}1, 2)\")\nngx.say('{1, 2)')\n}", body: "ngx.say(\"}1, 2)\")\nngx.say('{1, 2)')\n"},
	{name: "escaped quotes", src: `ngx.say("\"}1") ngx.say('\'{1') }`, body: `ngx.say("\"}1") ngx.say('\'{1') `},
	{name: "escaped backslash ends the string", src: `x = "\\" }`, body: `x = "\\" `},
	{name: "single quote inside double quotes", src: `x = "it's }" }`, body: `x = "it's }" `},
	{name: "nested tables", src: "local t = { a = { b = 1 } }\n}", body: "local t = { a = { b = 1 } }\n"},
	{name: "long string", src: `x = [[ } { ]] }`, body: `x = [[ } { ]] `},
	{name: "long string of level 2 holds lower closers", src: "x = [==[ ]] ]=] }\n]==] }", body: "x = [==[ ]] ]=] }\n]==] "},
	{name: "long string with quotes", src: `x = [[ " ]] .. [[ ' ]] }`, body: `x = [[ " ]] .. [[ ' ]] `},
	{name: "long string ending in --", src: `ngx.say([[ok--]]) --[[ --]] ngx.say("done") }`, body: `ngx.say([[ok--]]) --[[ --]] ngx.say("done") `},
	{name: "long comment", src: "--[[\n {{{\n } ]]\n}", body: "--[[\n {{{\n } ]]\n"},
	{name: "long comment of level 1", src: "--[=[ } ]] ]=] }", body: "--[=[ } ]] ]=] "},
	{name: "line comment with braces", src: "--}} {}\nngx.say(1)\n}", body: "--}} {}\nngx.say(1)\n"},
	{name: "---[[ is a line comment", src: "---[[ }\n}", body: "---[[ }\n"},
	{name: "--[= is a line comment", src: "--[= }\n}", body: "--[= }\n"},
	{name: "line comment in CRLF", src: "x = 1 -- }\r\n}", body: "x = 1 -- }\r\n"},
	{name: "string holding a comment opener", src: `x = "--[[" }`, body: `x = "--[[" `},
	{name: "stray closing brackets", src: "local t1, t2 = {\"a\"}, {1}\nngx.say(t1[t2[1]])\n}", body: "local t1, t2 = {\"a\"}, {1}\nngx.say(t1[t2[1]])\n"},
	{name: "single brackets", src: `x = t[ [[}]] ] }`, body: `x = t[ [[}]] ] `},
	{name: "unterminated string on its line: the quote is skipped", src: "x = \"abc }", body: "x = \"abc "},
	{name: "a string ends with its line, a later quote does not close it", src: "x = \"a\n}\n# \"\n", body: "x = \"a\n"},
	{name: "quote skipped, the quote after it pairs", src: "x = \"it's a '{' x\n}}", body: "x = \"it's a '{' x\n}"},
	{
		name: "backslash-newline continuation: the } ends the block",
		src:  "x = \"a\\\n}\"\n",
		err:  `f:3:1: unexpected end of file, expecting ";" or "}"`,
	},
	{name: "unclosed long string", src: "\nx = [==[ abc ]=] }\n", err: `f:2:5: in "content_by_lua_block": Lua long string is not closed: missing "]==]"`},
	{name: "unclosed long comment", src: "x = 1 --[[ } ", err: `f:1:29: in "content_by_lua_block": Lua long comment is not closed: missing "]]"`},
	{name: "unclosed block", src: "local t = { }\n", err: `f:2:1: in "content_by_lua_block": unexpected end of file, expecting "}" to end the Lua block`},
	{name: "nothing after the brace", src: "", err: `f:1:23: in "content_by_lua_block": unexpected end of file, expecting "}" to end the Lua block`},
	{
		name: "unterminated string and no end",
		src:  "x = { \"a }\n",
		err:  `f:1:29: in "content_by_lua_block": this Lua string is not closed on its line, and the Lua block never ends: nginx reads a string only up to the end of its line`,
	},
	{
		name: "too long between two tokens",
		src:  "x = \"" + strings.Repeat("a", 4100) + "\" }",
		err:  `f:1:23: in "content_by_lua_block": too long lua code block: nginx reads at most 4096 bytes between two Lua tokens (braces, strings, comments); split the long string or code`,
	},
	{
		name: "a string closing past nginx's buffer: its quote is skipped",
		src:  "x = \"a } index" + strings.Repeat(" a", 2100) + " \"x\";\n",
		body: "x = \"a ",
	},
	{
		name: "the same string closing within nginx's buffer",
		src:  "x = \"a } index" + strings.Repeat(" a", 1000) + " \"x\";\n",
		err:  `f:1:2040: in "content_by_lua_block": this Lua string is not closed on its line, and the Lua block never ends: nginx reads a string only up to the end of its line`,
	},
	{name: "long but within nginx's buffer", src: "x = 1" + strings.Repeat(" ", 2000) + "}", body: "x = 1" + strings.Repeat(" ", 2000)},
}

// luaBlocks returns each Lua directive of cfg as "name@L-M": the lines of
// its name and of its closing '}'.
func luaBlocks(cfg *Config) []string {
	var out []string
	var walk func([]*directive)
	walk = func(ds []*directive) {
		for _, d := range ds {
			if d.lua {
				if len(d.children) > 0 || cfg.src[d.end-1] != '}' {
					panic("a Lua block with children or without its '}'")
				}
				last := bytes.Count(cfg.src[:d.end], []byte("\n")) + 1
				out = append(out, fmt.Sprintf("%s@%d-%d", d.args[0].val, d.args[0].line, last))
			}
			walk(d.children)
		}
	}
	walk(cfg.root)
	return out
}

func TestLuaBlockLexer(t *testing.T) {
	for _, tt := range luaCases {
		t.Run(tt.name, func(t *testing.T) {
			src := luaPrefix + tt.src
			cfg, err := ParseConfig("f", []byte(src))
			if tt.err != "" {
				var pe *ParseError
				if err == nil || !errors.As(err, &pe) || err.Error() != tt.err {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.root) == 0 || !cfg.root[0].lua || !cfg.root[0].isBlock {
				t.Fatalf("want a Lua block first, got %d directives", len(cfg.root))
			}
			d := cfg.root[0]
			if got := src[len(luaPrefix) : d.end-1]; got != tt.body {
				t.Errorf("body:\n got %q\nwant %q", got, tt.body)
			}
		})
	}
}

// luaFixtures are the real-world-shaped configs of testdata/lua: the Lua
// blocks the parser must find (name@first-last line) and the upstreams it
// must see through them. The refused ones hold the exact error.
var luaFixtures = []struct {
	file      string
	blocks    []string
	upstreams []string
	err       string
}{
	{
		file: "ingress.conf",
		blocks: []string{
			"init_by_lua_block@25-41", "init_worker_by_lua_block@43-45", "balancer_by_lua_block@50-52",
			"rewrite_by_lua_block@71-74", "log_by_lua_block@76-81", "content_by_lua_block@92-99",
		},
		upstreams: []string{"upstream_balancer", "apps"},
	},
	{
		file: "openresty-blocks.conf",
		blocks: []string{
			"init_by_lua_block@18-20", "init_worker_by_lua_block@22-24",
			"content_by_lua_block@36-42", "content_by_lua_block@46-52", "content_by_lua_block@56-71",
			"content_by_lua_block@75-80", "content_by_lua_block@84-87", "content_by_lua_block@91-91",
			"set_by_lua_block@95-95",
			"rewrite_by_lua_block@101-101", "access_by_lua_block@101-101", "content_by_lua_block@102-104",
			"header_filter_by_lua_block@105-107", "body_filter_by_lua_block@108-113", "log_by_lua_block@114-116",
		},
		upstreams: []string{"backend"},
	},
	{
		file: "balancer.conf",
		blocks: []string{
			"init_by_lua_block@23-31", "init_worker_by_lua_block@33-36", "balancer_by_lua_block@45-55",
			"access_by_lua_block@67-69", "content_by_lua_block@74-77",
		},
		upstreams: []string{"apps", "apps_lua"},
	},
	{
		file: "refused-long-bracket.conf",
		err:  `testdata/lua/refused-long-bracket.conf:26:25: in "content_by_lua_block": Lua long string is not closed: missing "]==]"`,
	},
	{
		file: "refused-continued-string.conf",
		err:  `testdata/lua/refused-continued-string.conf:30:13: unexpected "}"`,
	},
}

func readLuaFixture(t *testing.T, file string) (string, []byte) {
	t.Helper()
	name := filepath.Join("testdata", "lua", file)
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, src
}

// TestLuaFixtures: each fixture parses with its Lua blocks where nginx sees
// them, and every server of its upstreams can be marked down and restored,
// changing only that server's line, with the Lua blocks untouched.
func TestLuaFixtures(t *testing.T) {
	for _, fx := range luaFixtures {
		t.Run(fx.file, func(t *testing.T) {
			name, src := readLuaFixture(t, fx.file)
			cfg, err := ParseConfig(name, src)
			if fx.err != "" {
				if err == nil || err.Error() != fx.err {
					t.Fatalf("error:\n got %v\nwant %s", err, fx.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cfg.Source(), src) {
				t.Fatal("Source differs from the file")
			}
			if d := cmp.Diff(fx.blocks, luaBlocks(cfg)); d != "" {
				t.Errorf("Lua blocks (-want +got):\n%s", d)
			}
			var names []string
			for _, u := range cfg.Upstreams() {
				names = append(names, u.Name)
			}
			if d := cmp.Diff(fx.upstreams, names); d != "" {
				t.Errorf("upstreams (-want +got):\n%s", d)
			}
			for _, u := range cfg.Upstreams() {
				for _, s := range u.Servers {
					checkDownOneLine(t, src, u.Name, s)
				}
			}
		})
	}
}

// checkDownOneLine marks s down and back: exactly its line changes, by the
// added " down", and the round trip gives back the input.
func checkDownOneLine(t *testing.T, src []byte, upstream string, s *Server) {
	t.Helper()
	out, err := SetDown(src, upstream, s.Address, true)
	if err != nil {
		t.Fatalf("SetDown(%s, %s): %v", upstream, s.Address, err)
	}
	before, after := strings.Split(string(src), "\n"), strings.Split(string(out), "\n")
	if len(before) != len(after) {
		t.Fatalf("SetDown(%s, %s) changed the number of lines", upstream, s.Address)
	}
	for i := range before {
		if before[i] == after[i] {
			continue
		}
		if i+1 != s.Line || !strings.Contains(after[i], s.Address+" ") || !strings.Contains(after[i], "down") ||
			len(after[i]) != len(before[i])+len(" down") {
			t.Errorf("SetDown(%s, %s) changed line %d:\n-%s\n+%s", upstream, s.Address, i+1, before[i], after[i])
		}
	}
	back, err := SetDown(out, upstream, s.Address, false)
	if err != nil || !bytes.Equal(back, src) {
		t.Fatalf("SetDown(%s, %s, false) did not give back the input: %v", upstream, s.Address, err)
	}
}

// TestLuaHostileQuotes: quotes that never close, in a megabyte, are read in
// linear time, with the error nginx gives. (A reader that scanned each quote
// to the end of its line took 3 minutes on half of the first input; one
// bounded by nginx's buffer but without quoteScanner's memory, 1.3 s on the
// second.)
func TestLuaHostileQuotes(t *testing.T) {
	for _, tt := range []struct{ name, src, err string }{
		{
			name: "one long line of escaped quotes",
			src:  strings.Repeat(`"\`, 1<<19),
			err:  "f:1:23: in \"content_by_lua_block\": too long lua code block",
		},
		{
			name: "a brace every 4001 bytes, escaped quotes between",
			src:  strings.Repeat("{"+strings.Repeat(`\"`, 2000), 1<<8),
			err:  "f:1:1024278: in \"content_by_lua_block\": this Lua string is not closed on its line",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("f", []byte(luaPrefix+tt.src))
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Fatalf("got %v, want %s...", err, tt.err)
			}
		})
	}
}
