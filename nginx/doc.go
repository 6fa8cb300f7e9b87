// Package nginx changes which servers of an nginx upstream receive traffic,
// without dropping requests: it marks a server down, restores it, changes its
// weight, and tells when the nginx processes that still served the old
// membership have finished their in-flight requests.
//
// The package has two layers. The lower one is pure: ParseConfig reads an
// nginx configuration the way nginx itself tokenizes it (and the body of
// every `*_by_lua_block` the way lua-nginx-module reads Lua, kept as opaque
// bytes), and SetDown / SetWeight rewrite exactly one `server` line of an
// `upstream` while keeping every other byte of the file. The upper one,
// Balancer, applies such an edit to a live nginx through a Runtime (nginx in
// a Docker container or on the host): write, `nginx -t`, reload, wait for
// the new worker generation, and later wait until the old generation has
// drained.
//
// Callers should depend on the Membership interface rather than on reloads:
// beside Balancer, Dynamic is the reload-free backend (nginx block mode =
// "dynamic"): a state file that the Lua module Nonstop ships
// (lua/nonstop.lua, balancer_by_lua) balances from, drains by per-peer
// in-flight counters, and never edits the config (docs/dynamic.md).
// What only the reload backend does (a restore and a drain in one reload,
// a detour to an address, a reload that changes nothing) are optional
// capabilities (Handoffer, Detourer, Refresher), reached through the
// functions Handoff, Detour, Undetour and Refresh, which fall back or
// refuse for a backend without them. The package keeps no process-wide
// state: Balancers that share a file or an nginx share a *Shared that the
// caller constructs.
//
// Files: membership.go (the contract), balancer.go (the reload backend's
// edits), undo.go, reload.go (test + reload), drain.go (drain detection),
// loaded.go (what nginx loads), file.go and file_engine.go (reading and
// writing a file here or through nginx's engine), write.go, resolve.go,
// shared.go, edit.go
// and config.go (pure text), runtime*.go and procfs.go (talking to a
// running nginx); dynamic*.go and lua/ the reload-free backend.
//
// The reload backend edits only what nginx runs. Its preflight (Check)
// runs `nginx -T` instead of `nginx -t` (one exec either way) and proves
// that the file to edit is a file nginx loads, with the bytes on disk: for
// nginx in a container, through the container's mounts; for nginx on the
// host, the same file. Otherwise it refuses with ErrNotLoaded, naming the
// file, what nginx loads (and the mounts) and the fix. Every change then
// checks, before the reload and once the new workers run, that nginx reads
// what was written (Runtime.Seen: /proc/PID/root of the container's
// master, microseconds), and is reverted when it does not.
//
// Error contract of the membership operations (MarkDown, Restore, SetWeight,
// Undo): when they return an error, the config file holds its previous
// bytes again (and nginx was reloaded with it if the failed change had been
// signalled), unless the error says that restoring failed. A returned
// Change is only worth journaling when the error is nil.
//
// What was learned from nginx 1.22 while building this package:
//   - nginx resolves every upstream host when it loads a config, `down` or
//     not: a config naming a stopped container fails `nginx -t` ("host not
//     found in upstream"), so no reload of that nginx can succeed while any
//     upstream host is missing.
//   - After SIGHUP the master starts the new workers before it signals the
//     old ones, and an old worker keeps accepting connections (with the old
//     membership) until it handles that signal and renames itself "worker
//     process is shutting down". A change is therefore live only when a new
//     worker exists AND no old worker still has the plain title.
//   - A freshly forked worker briefly still carries the master's title.
package nginx
