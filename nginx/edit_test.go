package nginx

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSetDownSeed(t *testing.T) {
	src := readSeed(t)
	if n := strings.Count(string(src), "server app2:3000;"); n != 1 {
		t.Fatalf("seed has %d copies of the app2 line", n)
	}
	want := strings.Replace(string(src), "server app2:3000;", "server app2:3000 down;", 1)
	got, err := SetDown(src, "apps", "app2:3000", true)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("SetDown(seed):\n%s", got)
	}
	back, err := SetDown(got, "apps", "app2:3000", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, src) {
		t.Fatalf("round trip changed the seed:\n%s", back)
	}
	// Weight on the seed, and back.
	w, err := SetWeight(src, "apps", "app1:3000", 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(w) != strings.Replace(string(src), "server app1:3000;", "server app1:3000 weight=3;", 1) {
		t.Fatalf("SetWeight(seed):\n%s", w)
	}
	if w0, _ := SetWeight(w, "apps", "app1:3000", 0); !bytes.Equal(w0, src) {
		t.Fatalf("weight round trip changed the seed:\n%s", w0)
	}
}

// A commented-out copy of the target line, before it and after it on the
// same line, must not be touched.
func TestSetDownSeedWithCommentedCopies(t *testing.T) {
	seed := string(readSeed(t))
	src := "# server app2:3000;\n" + strings.Replace(seed,
		"        server app2:3000;\n",
		"        # server app2:3000;\n        server app2:3000; # server app2:3000;\n", 1)
	want := "# server app2:3000;\n" + strings.Replace(seed,
		"        server app2:3000;\n",
		"        # server app2:3000;\n        server app2:3000 down; # server app2:3000;\n", 1)
	got, err := SetDown([]byte(src), "apps", "app2:3000", true)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got:\n%s", got)
	}
}

func TestSetDown(t *testing.T) {
	tests := []struct {
		name      string
		src, want string
		server    string
		down      bool
	}{
		{"add", "upstream u {\n    server a:1;\n}\n", "upstream u {\n    server a:1 down;\n}\n", "a:1", true},
		{"add after params", "upstream u { server a:1 weight=5 max_fails=3; }", "upstream u { server a:1 weight=5 max_fails=3 down; }", "a:1", true},
		{"add after backup", "upstream u { server a:1 backup; }", "upstream u { server a:1 backup down; }", "a:1", true},
		{"space before ;", "upstream u { server a:1 ; }", "upstream u { server a:1 down ; }", "a:1", true},
		{"tabs", "upstream u {\n\tserver\ta:1\tweight=2;\n}", "upstream u {\n\tserver\ta:1\tweight=2 down;\n}", "a:1", true},
		{"CRLF", "upstream u {\r\n  server a:1;\r\n  server b:1;\r\n}\r\n", "upstream u {\r\n  server a:1;\r\n  server b:1 down;\r\n}\r\n", "b:1", true},
		{"comment with the same line first",
			"upstream u {\n  # server a:1;\n  server a:1; # server a:1;\n}\n",
			"upstream u {\n  # server a:1;\n  server a:1 down; # server a:1;\n}\n", "a:1", true},
		{"split over lines with comment",
			"upstream u {\n  server\n    a:1 # first\n    weight=2\n    ;\n}\n",
			"upstream u {\n  server\n    a:1 # first\n    weight=2 down\n    ;\n}\n", "a:1", true},
		{"quoted address", "upstream u { server \"a:1\"; }", "upstream u { server \"a:1\" down; }", "a:1", true},
		{"only the target upstream", "upstream v { server a:1; }\nupstream u { server a:1; }\n", "upstream v { server a:1; }\nupstream u { server a:1 down; }\n", "a:1", true},
		{"already down is a noop", "upstream u { server a:1  down ; }", "upstream u { server a:1  down ; }", "a:1", true},

		{"remove", "upstream u { server a:1 down; }", "upstream u { server a:1; }", "a:1", false},
		{"remove middle", "upstream u { server a:1 down weight=2; }", "upstream u { server a:1 weight=2; }", "a:1", false},
		{"remove with tab", "upstream u { server a:1\tdown; }", "upstream u { server a:1; }", "a:1", false},
		{"remove several", "upstream u { server a:1 down backup down; }", "upstream u { server a:1 backup; }", "a:1", false},
		{"remove quoted", "upstream u { server a:1 \"down\"; }", "upstream u { server a:1; }", "a:1", false},
		{"remove on its own line", "upstream u {\n  server a:1\n    down;\n}", "upstream u {\n  server a:1\n    ;\n}", "a:1", false},
		{"remove first on continuation line", "upstream u {\n  server a:1\n    down weight=2;\n}", "upstream u {\n  server a:1\n    weight=2;\n}", "a:1", false},
		{"remove after comment", "upstream u {\n  server a:1 # c\n  down;\n}", "upstream u {\n  server a:1 # c\n  ;\n}", "a:1", false},
		{"remove CRLF", "upstream u {\r\n  server a:1 down;\r\n}\r\n", "upstream u {\r\n  server a:1;\r\n}\r\n", "a:1", false},
		{"not down is a noop", "upstream u { server a:1; }", "upstream u { server a:1; }", "a:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetDown([]byte(tt.src), "u", tt.server, tt.down)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("SetDown(%t):\n got %q\nwant %q", tt.down, got, tt.want)
			}
			c, err := ParseConfig("", got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			u, _ := c.Upstream("u")
			if s, _ := u.Server(tt.server); s.Down != tt.down {
				t.Fatalf("re-parsed Down = %t", s.Down)
			}
			if tt.down && !strings.Contains(tt.src, "down") {
				back, err := SetDown(got, "u", tt.server, false)
				if err != nil {
					t.Fatal(err)
				}
				if string(back) != tt.src {
					t.Fatalf("round trip:\n got %q\nwant %q", back, tt.src)
				}
			}
		})
	}
}

func TestSetWeight(t *testing.T) {
	tests := []struct {
		name      string
		src, want string
		weight    int
	}{
		{"add", "upstream u { server a:1; }", "upstream u { server a:1 weight=3; }", 3},
		{"add after params", "upstream u { server a:1 max_fails=3 down; }", "upstream u { server a:1 max_fails=3 down weight=3; }", 3},
		{"replace", "upstream u { server a:1 weight=5 max_fails=3; }", "upstream u { server a:1 weight=2 max_fails=3; }", 2},
		{"replace quoted", "upstream u { server a:1 'weight=5'; }", "upstream u { server a:1 weight=2; }", 2},
		{"replace duplicates", "upstream u { server a:1 weight=5 weight=6; }", "upstream u { server a:1 weight=7 weight=7; }", 7},
		{"same is a noop", "upstream u { server a:1 weight=5 ; }", "upstream u { server a:1 weight=5 ; }", 5},
		{"remove", "upstream u { server a:1 weight=5 max_fails=3; }", "upstream u { server a:1 max_fails=3; }", 0},
		{"remove last", "upstream u {\r\n\tserver a:1\tweight=5;\r\n}", "upstream u {\r\n\tserver a:1;\r\n}", 0},
		{"remove absent is a noop", "upstream u { server a:1; }", "upstream u { server a:1; }", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetWeight([]byte(tt.src), "u", "a:1", tt.weight)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("SetWeight(%d):\n got %q\nwant %q", tt.weight, got, tt.want)
			}
			c, err := ParseConfig("", got)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := c.Upstream("u")
			if s, _ := u.Server("a:1"); s.Weight != tt.weight {
				t.Fatalf("re-parsed weight %d", s.Weight)
			}
			if !strings.Contains(tt.src, "weight") {
				back, _ := SetWeight(got, "u", "a:1", 0)
				if string(back) != tt.src {
					t.Fatalf("round trip: %q", back)
				}
			}
		})
	}
	for _, w := range []int{-1, maxWeight + 1} {
		if _, err := SetWeight([]byte("upstream u { server a:1; }"), "u", "a:1", w); !errors.Is(err, ErrInvalidWeight) {
			t.Errorf("SetWeight(%d) = %v, want ErrInvalidWeight", w, err)
		}
	}
}

func TestEditErrors(t *testing.T) {
	src := []byte("http {\n  upstream apps {\n    server app1:3000;\n    server app2:3000;\n    server dup:1;\n    server dup:1;\n  }\n}\n" +
		"stream { upstream twice { server x:1; } }\nhttp { upstream twice { server x:1; } }\n")
	tests := []struct {
		upstream, server string
		is               error
		contains         []string
	}{
		{"app", "app2:3000", ErrNoUpstream, []string{`upstream "app"`, `did you mean "apps"?`}},
		{"zzzzzzzz", "app2:3000", ErrNoUpstream, []string{`upstream "zzzzzzzz"`, `upstreams: "apps", "twice", "twice"`}},
		{"apps", "app3:3000", ErrNoServer, []string{`"app3:3000" in upstream "apps" (line 2`, `did you mean "app1:3000"?`}},
		{"apps", "APP2:3000", ErrNoServer, []string{`did you mean "app2:3000"?`}},
		{"apps", "database:5432", ErrNoServer, []string{`servers: "app1:3000", "app2:3000", "dup:1", "dup:1"`}},
		{"apps", "dup:1", ErrAmbiguous, []string{`"dup:1" appears 2 times`, "lines 5, 6"}},
		{"twice", "x:1", ErrAmbiguous, []string{`upstream "twice" is defined 2 times`}},
		{"apps", "", ErrInvalidName, nil},
		{"", "app2:3000", ErrInvalidName, nil},
	}
	for _, tt := range tests {
		for _, edit := range []func() ([]byte, error){
			func() ([]byte, error) { return SetDown(src, tt.upstream, tt.server, true) },
			func() ([]byte, error) { return SetWeight(src, tt.upstream, tt.server, 2) },
		} {
			out, err := edit()
			if !errors.Is(err, tt.is) || out != nil {
				t.Errorf("%s/%s: got %v, want %v", tt.upstream, tt.server, err, tt.is)
				continue
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("%s/%s: %q does not contain %q", tt.upstream, tt.server, err, c)
				}
			}
		}
	}
	if _, err := SetDown([]byte("upstream u { server a:1 }"), "u", "a:1", true); err == nil {
		t.Error("unbalanced config edited")
	}
}

// Names from plan files must never be able to smuggle a directive into the
// config: invalid names are rejected before the file is even parsed, and
// edits only ever insert the fixed tokens "down" and "weight=N".
func TestHostileNames(t *testing.T) {
	src := []byte("upstream apps {\n    server app2:3000;\n    server \"a;b\";\n    server a\\{b;\n}\n")
	for _, name := range []string{
		"app2:3000;", "app2:3000; include /etc/passwd", "a;b", "a{b", "a}b", `a"b`, "a'b",
		"app2:3000\nserver evil:1", "a b", "a\tb", "a#b", `a\b`, "$host", "a\x00b", "a\rb",
	} {
		for _, up := range []string{"apps", name} {
			if out, err := SetDown(src, up, name, true); !errors.Is(err, ErrInvalidName) || out != nil {
				t.Errorf("SetDown(%q, %q) = %q, %v; want ErrInvalidName", up, name, out, err)
			}
			if out, err := SetWeight(src, up, name, 2); !errors.Is(err, ErrInvalidName) || out != nil {
				t.Errorf("SetWeight(%q, %q) = %q, %v; want ErrInvalidName", up, name, out, err)
			}
		}
	}
	// A hostile file: only the fixed token is added, structure is unchanged.
	hostile := []byte("upstream apps {\n  server app2:3000 \"x;} server evil:1 {\" # ; }\n  ;\n}\n")
	out, err := SetDown(hostile, "apps", "app2:3000", true)
	if err != nil {
		t.Fatal(err)
	}
	want := "upstream apps {\n  server app2:3000 \"x;} server evil:1 {\" down # ; }\n  ;\n}\n"
	if string(out) != want {
		t.Fatalf("got %q", out)
	}
	checkOnlyParamChanged(t, hostile, out, "apps", "app2:3000", "down")
}

// checkOnlyParamChanged asserts that after has exactly the directives of
// before, except that the target server gained param at the end.
func checkOnlyParamChanged(t testing.TB, before, after []byte, upstream, server, param string) {
	t.Helper()
	checkServerEdit(t, before, after, upstream, server, func(v []string) []string { return append(v, param) })
}

// checkServerEdit asserts that after has exactly the directives (names and
// argument values, block structure) of before, except the target server,
// whose values must be transform(before's values).
func checkServerEdit(t testing.TB, before, after []byte, upstream, server string, transform func([]string) []string) {
	t.Helper()
	cb, err := ParseConfig("before", before)
	if err != nil {
		t.Fatalf("before: %v", err)
	}
	ca, err := ParseConfig("after", after)
	if err != nil {
		t.Fatalf("after does not parse: %v\n%q", err, after)
	}
	fb, fa := flatten(cb), flatten(ca)
	if len(fb) != len(fa) {
		t.Fatalf("directive count changed: %d -> %d\n%q\n%q", len(fb), len(fa), before, after)
	}
	targets := 0
	for i := range fb {
		vals := fb[i].vals
		isTarget := !fb[i].block && !fa[i].block && fb[i].path == fa[i].path &&
			strings.HasSuffix(fb[i].path, `"upstream" `+strconv.Quote(upstream)+"/") &&
			len(vals) >= 2 && vals[0] == "server" && vals[1] == server
		if isTarget {
			targets++
			want := transform(slices.Clone(vals))
			if !slices.Equal(fa[i].vals, want) {
				t.Fatalf("target server: got %q, want %q", fa[i].vals, want)
			}
			continue
		}
		if !fb[i].equal(fa[i]) {
			t.Fatalf("directive %d changed: %+v -> %+v", i, fb[i], fa[i])
		}
	}
	if targets != 1 {
		t.Fatalf("%d target server directives", targets)
	}
}

type flatDirective struct {
	path  string
	vals  []string
	block bool
}

func (d flatDirective) equal(o flatDirective) bool {
	return d.path == o.path && d.block == o.block && slices.Equal(d.vals, o.vals)
}

// flatten lists every directive with its block path and its argument values.
func flatten(c *Config) []flatDirective {
	var out []flatDirective
	var walk func(prefix string, ds []*directive)
	walk = func(prefix string, ds []*directive) {
		for _, d := range ds {
			vals := make([]string, len(d.args))
			for i, a := range d.args {
				vals[i] = a.val
			}
			out = append(out, flatDirective{prefix, vals, d.isBlock})
			if d.isBlock {
				walk(prefix+strings.Join(quoteAll(vals), " ")+"/", d.children)
			}
		}
	}
	walk("", c.root)
	return out
}

func TestDetour(t *testing.T) {
	const src = "http {\n    upstream apps {\n        server app1:3000; # primary\n\tserver app2:3000 down;\n    }\n}\n"
	out, err := AddDetour([]byte(src), "apps", "app1:3000", "172.18.0.5:3000")
	if err != nil {
		t.Fatal(err)
	}
	const want = "http {\n    upstream apps {\n        server app1:3000 down;\n        server 172.18.0.5:3000; # nonstop: detour of app1:3000 # primary\n\tserver app2:3000 down;\n    }\n}\n"
	if string(out) != want {
		t.Fatalf("AddDetour:\n got %q\nwant %q", out, want)
	}
	cfg, err := ParseConfig("", out)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := cfg.Upstream("apps")
	if s, ok := u.Server("172.18.0.5:3000"); !ok || s.Down {
		t.Fatalf("detour line: %+v %v", s, ok)
	}
	again, err := AddDetour(out, "apps", "app1:3000", "172.18.0.5:3000")
	if err != nil || string(again) != want {
		t.Fatalf("AddDetour twice: %v\n%q", err, again)
	}
	back, err := EndDetour(out, "apps", "app1:3000", "172.18.0.5:3000", false)
	if err != nil || string(back) != src {
		t.Fatalf("EndDetour: %v\n got %q\nwant %q", err, back, src)
	}
	// An already down server stays down; its detour comes and goes.
	d2, err := AddDetour([]byte(src), "apps", "app2:3000", "[fd00::5]:3000")
	if err != nil || !strings.Contains(string(d2), "\tserver app2:3000 down;\n\tserver [fd00::5]:3000; # nonstop: detour of app2:3000\n") {
		t.Fatalf("AddDetour of a down server: %v\n%q", err, d2)
	}
	if back, err := EndDetour(d2, "apps", "app2:3000", "[fd00::5]:3000", true); err != nil || string(back) != src {
		t.Fatalf("EndDetour of a down server: %v\n%q", err, back)
	}
	// Without its line, EndDetour only sets down.
	if back, err := EndDetour([]byte(src), "apps", "app2:3000", "172.18.0.5:3000", false); err != nil || strings.Contains(string(back), "app2:3000 down") {
		t.Fatalf("EndDetour without a detour line: %v\n%q", err, back)
	}
	for _, addr := range []string{"app3:3000", "172.18.0.5", "172.18.0.5:0", "172.18.0.5:70000", "1.2.3.4:80;", "1.2.3.4:80 backup", ""} {
		if _, err := AddDetour([]byte(src), "apps", "app1:3000", addr); !errors.Is(err, ErrInvalidName) {
			t.Errorf("AddDetour to %q: %v, want ErrInvalidName", addr, err)
		}
	}
}
