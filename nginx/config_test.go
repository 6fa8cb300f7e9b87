package nginx

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readSeed(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../plans/proxy/nginx.conf")
	if err != nil {
		t.Fatalf("reading the seed config: %v", err)
	}
	return b
}

// srv is the comparable part of a Server.
type srv struct {
	Address, Host, Port string
	Down                bool
	Weight              int
	Params              []string
	Line                int
}

type ups struct {
	Name    string
	Line    int
	Servers []srv
}

func summarize(c *Config) []ups {
	var out []ups
	for _, u := range c.Upstreams() {
		x := ups{Name: u.Name, Line: u.Line}
		for _, s := range u.Servers {
			x.Servers = append(x.Servers, srv{s.Address, s.Host, s.Port, s.Down, s.Weight, s.Params, s.Line})
		}
		out = append(out, x)
	}
	return out
}

func TestParseSeed(t *testing.T) {
	c, err := ParseConfig("nginx.conf", readSeed(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ups{{Name: "apps", Line: 16, Servers: []srv{
		{Address: "app1:3000", Host: "app1", Port: "3000", Line: 17},
		{Address: "app2:3000", Host: "app2", Port: "3000", Line: 18},
	}}}
	if d := cmp.Diff(want, summarize(c)); d != "" {
		t.Errorf("upstreams (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"/etc/nginx/mime.types", "/etc/nginx/conf.d/*.conf"}, c.Includes()); d != "" {
		t.Errorf("includes (-want +got):\n%s", d)
	}
	u, ok := c.Upstream("apps")
	if !ok {
		t.Fatal("no upstream apps")
	}
	if s, ok := u.Server("app2:3000"); !ok || s.Line != 18 {
		t.Errorf("Server(app2:3000) = %v, %v", s, ok)
	}
	if _, ok := u.Server("app3:3000"); ok {
		t.Error("Server(app3:3000) found")
	}
	if _, ok := c.Upstream("nope"); ok {
		t.Error("Upstream(nope) found")
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []ups
	}{
		{
			name: "comment containing a server line is not a server",
			src: "upstream apps {\n" +
				"    # server app2:3000;\n" +
				"    server app1:3000; # server app2:3000;\n" +
				"}\n",
			want: []ups{{Name: "apps", Line: 1, Servers: []srv{{Address: "app1:3000", Host: "app1", Port: "3000", Line: 3}}}},
		},
		{
			name: "quoted strings with ; { } and an upstream-looking text",
			src: "http {\n" +
				"  log_format main '$remote_addr; { upstream fake { server x:1; } }';\n" +
				"  add_header X-A \"a;b{c}\\\"d\";\n" +
				"  upstream apps { server app1:3000; }\n" +
				"}\n",
			want: []ups{{Name: "apps", Line: 4, Servers: []srv{{Address: "app1:3000", Host: "app1", Port: "3000", Line: 4}}}},
		},
		{
			name: "params, backup, down, several upstreams in http and stream",
			src: "http {\n" +
				"  upstream apps {\n" +
				"    server app1:3000 weight=5 max_fails=3 fail_timeout=10s;\n" +
				"    server app2:3000 backup;\n" +
				"    server app3:3000 down;\n" +
				"    keepalive 16;\n" +
				"  }\n" +
				"  upstream other { server 10.0.0.1; server [::1]:8080 weight=2; server unix:/run/app.sock; }\n" +
				"}\n" +
				"stream { upstream db { server db1:5432; } }\n",
			want: []ups{
				{Name: "apps", Line: 2, Servers: []srv{
					{Address: "app1:3000", Host: "app1", Port: "3000", Weight: 5, Params: []string{"weight=5", "max_fails=3", "fail_timeout=10s"}, Line: 3},
					{Address: "app2:3000", Host: "app2", Port: "3000", Params: []string{"backup"}, Line: 4},
					{Address: "app3:3000", Host: "app3", Port: "3000", Down: true, Params: []string{"down"}, Line: 5},
				}},
				{Name: "other", Line: 8, Servers: []srv{
					{Address: "10.0.0.1", Host: "10.0.0.1", Line: 8},
					{Address: "[::1]:8080", Host: "::1", Port: "8080", Weight: 2, Params: []string{"weight=2"}, Line: 8},
					{Address: "unix:/run/app.sock", Host: "unix:/run/app.sock", Line: 8},
				}},
				{Name: "db", Line: 10, Servers: []srv{{Address: "db1:5432", Host: "db1", Port: "5432", Line: 10}}},
			},
		},
		{
			name: "CRLF",
			src:  "upstream apps {\r\n    server app1:3000;\r\n    server app2:3000 down;\r\n}\r\n",
			want: []ups{{Name: "apps", Line: 1, Servers: []srv{
				{Address: "app1:3000", Host: "app1", Port: "3000", Line: 2},
				{Address: "app2:3000", Host: "app2", Port: "3000", Down: true, Params: []string{"down"}, Line: 3},
			}}},
		},
		{
			name: "tabs and odd spacing",
			src:  "upstream\tapps\t{\n\tserver\tapp1:3000\t\tweight=2 ;\n\t\tserver   app2:3000;}",
			want: []ups{{Name: "apps", Line: 1, Servers: []srv{
				{Address: "app1:3000", Host: "app1", Port: "3000", Weight: 2, Params: []string{"weight=2"}, Line: 2},
				{Address: "app2:3000", Host: "app2", Port: "3000", Line: 3},
			}}},
		},
		{
			name: "server line split over lines with a comment inside",
			src:  "upstream apps {\n  server\n    app1:3000 # the first\n    weight=3\n    ;\n}\n",
			want: []ups{{Name: "apps", Line: 1, Servers: []srv{
				{Address: "app1:3000", Host: "app1", Port: "3000", Weight: 3, Params: []string{"weight=3"}, Line: 2},
			}}},
		},
		{
			name: "quoted address and params, escapes",
			src:  "upstream \"apps\" { server \"app1:3000\" 'down'; server app\\\"x:1; }",
			want: []ups{{Name: "apps", Line: 1, Servers: []srv{
				{Address: "app1:3000", Host: "app1", Port: "3000", Down: true, Params: []string{"down"}, Line: 1},
				{Address: `app"x:1`, Host: `app"x`, Port: "1", Line: 1},
			}}},
		},
		{
			name: "variables ${var} and $var, } and # inside words",
			src: "map $host $x { default a}b; }\n" +
				"server { set $a ${b}c#d; location / { return 200 \"${a}\"; } }\n" +
				"upstream u { server u1:80; }\n",
			want: []ups{{Name: "u", Line: 3, Servers: []srv{{Address: "u1:80", Host: "u1", Port: "80", Line: 3}}}},
		},
		{
			name: "server blocks of http are not upstream servers; includes are not followed",
			src:  "http { include conf.d/*.conf; server { listen 80; server_name a; } upstream u { include more.conf; server s:1; } }",
			want: []ups{{Name: "u", Line: 1, Servers: []srv{{Address: "s:1", Host: "s", Port: "1", Line: 1}}}},
		},
		{
			name: "empty file and comment-only file",
			src:  "# nothing here\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("t.conf", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summarize(c)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if string(c.Source()) != tt.src || c.Filename() != "t.conf" {
				t.Error("Source/Filename do not return the input")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // exact error text
	}{
		{"http {\n  upstream apps {\n    server a:1;\n", `f:4:1: unexpected end of file, expecting "}" (block "upstream" opened at 2:17 is not closed)`},
		{"http { }\n}\n", `f:2:1: unexpected "}"`},
		{"upstream a { server a:1 }", `f:1:25: unexpected "}"`},
		{"upstream a { server a:1", `f:1:24: unexpected end of file, expecting ";" or "}"`},
		{"a \"unterminated;\n", `f:2:1: unexpected end of file, expecting ";" or "}"`},
		{"a 'x'y;", `f:1:6: unexpected "y"`},
		{"a \"x\"#c;", `f:1:6: unexpected "#"`},
		{"http {\r\n  ;\r\n}", `f:2:3: unexpected ";"`},
		{"{ }", `f:1:1: unexpected "{"`},
		{"a\tb\\", `f:1:5: unexpected end of file, expecting ";" or "}"`},
		{"a \"x\"\x00;", `f:1:6: unexpected byte 0x00`},
	}
	for _, tt := range tests {
		_, err := ParseConfig("f", []byte(tt.src))
		if err == nil {
			t.Errorf("ParseConfig(%q): no error, want %s", tt.src, tt.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseConfig(%q): %T, want *ParseError", tt.src, err)
		}
		if err.Error() != tt.want {
			t.Errorf("ParseConfig(%q):\n got %s\nwant %s", tt.src, err, tt.want)
		}
	}
}

func TestParseDeepNestingDoesNotOverflow(t *testing.T) {
	src := strings.Repeat("a {", 50000) + strings.Repeat("}", 50000)
	if _, err := ParseConfig("deep", []byte(src)); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig("deep", []byte(strings.Repeat("a {", 50000))); err == nil {
		t.Fatal("unbalanced deep input parsed")
	}
}

func TestSplitAddress(t *testing.T) {
	for _, tt := range []struct{ in, host, port string }{
		{"app2:3000", "app2", "3000"},
		{"app2", "app2", ""},
		{"10.0.0.1:80", "10.0.0.1", "80"},
		{"[::1]:8080", "::1", "8080"},
		{"[::1]", "::1", ""},
		{"unix:/run/x.sock", "unix:/run/x.sock", ""},
		{"[broken", "[broken", ""},
	} {
		h, p := splitAddress(tt.in)
		if h != tt.host || p != tt.port {
			t.Errorf("splitAddress(%q) = %q, %q; want %q, %q", tt.in, h, p, tt.host, tt.port)
		}
	}
}
