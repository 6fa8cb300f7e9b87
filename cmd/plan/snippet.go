// This file holds `plan nginx-snippet`: the nginx configuration that
// enables the reload-free backend (nginx block mode = "dynamic"), and with
// -lua the Lua module it loads. Both come from package nginx.
package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/nginx"
)

type snippetCommand struct {
	meta      *meta
	upstreams string
	dir       string
	module    string
	lua       bool
}

func (c *snippetCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("nginx-snippet", false)
	fs.StringVar(&c.upstreams, "upstream", "", "the upstream(s) Nonstop manages, comma-separated: `NAME[,NAME]`")
	fs.StringVar(&c.dir, "dir", "/etc/nginx/nonstop", "the state folder as nginx sees it: `DIR`")
	fs.StringVar(&c.module, "module-dir", "", "where nonstop.lua is installed, as nginx sees it (default: -dir): `DIR`")
	fs.BoolVar(&c.lua, "lua", false, "print the Lua module (nonstop.lua) instead")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *snippetCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *snippetCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

// Synopsis implements cli.Command.
func (c *snippetCommand) Synopsis() string {
	return "Print the nginx config for the reload-free mode (mode = \"dynamic\")"
}

// Help implements cli.Command.
func (c *snippetCommand) Help() string {
	return commandHelp(c, "", `
  Prints what nginx needs for an nginx block with mode = "dynamic": the
  directives of the http block (lua_shared_dict, init_worker_by_lua_block,
  log_by_lua_block) and, per upstream, the balancer_by_lua_block to put in
  it after its server lines. With -lua, prints nonstop.lua, the Lua module
  to install in the folder the snippet names. See docs/dynamic.md.

Options:
  -upstream NAME[,NAME]  The upstreams Nonstop manages in this nginx.
  -dir DIR               The state folder as nginx sees it (default
                         /etc/nginx/nonstop): Nonstop writes the membership
                         there, nginx's workers write their acknowledgement.
  -module-dir DIR        Where nonstop.lua is installed (default: -dir).
  -lua                   Print nonstop.lua instead of the snippet.
  -no-color              No colour or other terminal escapes.

Exit status: 0; 1 on a usage error.

Examples:
  plan nginx-snippet -upstream apps -dir /etc/nginx/nonstop
  plan nginx-snippet -lua > /srv/nginx/nonstop/nonstop.lua
`)
}

// Run implements cli.Command.
func (c *snippetCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "Error: nginx-snippet takes no arguments, got %q\n", fs.Args())
		return exitError
	}
	if c.lua {
		_, _ = m.stdout.Write(nginx.LuaModule)
		return exitOK
	}
	var ups []string
	for _, u := range strings.Split(c.upstreams, ",") {
		if u = strings.TrimSpace(u); u != "" {
			ups = append(ups, u)
		}
	}
	if len(ups) == 0 {
		fmt.Fprintln(m.stderr, "Error: nginx-snippet needs -upstream NAME (the upstream of the nginx block)")
		return exitError
	}
	if !strings.HasPrefix(c.dir, "/") || strings.ContainsAny(c.dir, "\"'\\") {
		fmt.Fprintf(m.stderr, "Error: -dir must be an absolute path without quotes, got %q\n", c.dir)
		return exitError
	}
	fmt.Fprint(m.stdout, nginx.Snippet(nginx.SnippetOptions{StateDir: c.dir, Upstreams: ups, ModulePath: c.module}))
	return exitOK
}
