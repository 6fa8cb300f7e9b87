package main

import (
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/nginx"
)

// TestNginxSnippet: the snippet names the upstreams and the state folder
// given (what Dynamic's preflight looks for in `nginx -T`), -lua prints
// the embedded module byte for byte, and usage errors exit 1.
func TestNginxSnippet(t *testing.T) {
	code, stdout, stderr := plan(t, "nginx-snippet", "-upstream", "apps,api", "-dir", "/srv/nonstop")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`lua_shared_dict nonstop 1m;`,
		`require("nonstop").init_worker("/srv/nonstop", { "apps", "api" })`,
		`require("nonstop").log()`,
		`require("nonstop").balance("apps")`,
		`require("nonstop").balance("api")`,
		`lua_package_path "/srv/nonstop/?.lua;;";`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("snippet lacks %q:\n%s", want, stdout)
		}
	}
	if code, stdout, _ := plan(t, "nginx-snippet", "-lua"); code != 0 || stdout != string(nginx.LuaModule) {
		t.Fatalf("-lua: exit %d, want the embedded module", code)
	}
	for _, args := range [][]string{{"nginx-snippet"}, {"nginx-snippet", "-upstream", "apps", "-dir", "rel/dir"}, {"nginx-snippet", "-upstream", "apps", "extra"}} {
		if code, _, stderr := plan(t, args...); code != 1 || !strings.Contains(stderr, "Error:") {
			t.Errorf("%q: want exit 1 with an error, got %d %q", args, code, stderr)
		}
	}
}
