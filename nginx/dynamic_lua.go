// This file holds what a user adds to nginx for the reload-free backend:
// the Lua module Nonstop ships (lua/nonstop.lua, embedded) and the
// snippet that loads it (`plan nginx-snippet` prints both).

package nginx

import (
	_ "embed" // the Lua module
	"fmt"
	"strings"
)

// LuaModule is nonstop.lua, the Lua side of Dynamic: install it where
// lua_package_path finds it (the snippet looks in the state folder).
//
//go:embed lua/nonstop.lua
var LuaModule []byte

// LuaModuleVersion is the module's _VERSION; the preflight refuses an
// nginx running another version (its ack file says which).
const LuaModuleVersion = "1"

// SnippetOptions are the values the snippet needs.
type SnippetOptions struct {
	// StateDir is the state folder as nginx sees it (inside its
	// container); Nonstop writes UPSTREAM.state there and nginx's workers
	// write UPSTREAM.ack, so it must be writable by them.
	StateDir string
	// Upstreams are the upstreams Nonstop manages in this nginx.
	Upstreams []string
	// ModulePath is where nonstop.lua is installed; "" is StateDir.
	ModulePath string
}

// Snippet returns the nginx configuration that enables the reload-free
// backend: the directives of the http block and, per upstream, the
// balancer line. It is what `plan nginx-snippet` prints.
func Snippet(o SnippetOptions) string {
	mod := o.ModulePath
	if mod == "" {
		mod = o.StateDir
	}
	var names []string
	for _, u := range o.Upstreams {
		names = append(names, fmt.Sprintf("%q", u))
	}
	var b strings.Builder
	b.WriteString("# Nonstop reload-free membership (nginx block mode = \"dynamic\"; docs/dynamic.md).\n")
	b.WriteString("# Needs lua-nginx-module: OpenResty, or Debian's libnginx-mod-http-lua, which\n")
	b.WriteString("# /etc/nginx/modules-enabled loads (elsewhere, at the top of nginx.conf:\n")
	b.WriteString("#   load_module modules/ndk_http_module.so;\n")
	b.WriteString("#   load_module modules/ngx_http_lua_module.so;)\n")
	fmt.Fprintf(&b, "# Install nonstop.lua (plan nginx-snippet -lua) in %s.\n\n", mod)
	b.WriteString("# In the http block:\n")
	fmt.Fprintf(&b, "lua_package_path \"%s/?.lua;;\";\n", mod)
	b.WriteString("lua_shared_dict nonstop 1m;\n")
	b.WriteString("init_worker_by_lua_block {\n")
	fmt.Fprintf(&b, "    require(\"nonstop\").init_worker(%q, { %s })\n", o.StateDir, strings.Join(names, ", "))
	b.WriteString("}\n")
	b.WriteString("# Every location that proxies to these upstreams must run this (a\n")
	b.WriteString("# log_by_lua_block of a location replaces the one of the http block).\n")
	b.WriteString("log_by_lua_block {\n    require(\"nonstop\").log()\n}\n")
	for _, u := range o.Upstreams {
		fmt.Fprintf(&b, "\n# In upstream %s, after its server lines (they stay: they name the servers):\n", u)
		fmt.Fprintf(&b, "balancer_by_lua_block {\n    require(\"nonstop\").balance(%q)\n}\n", u)
	}
	return b.String()
}
