// This file holds the reload-free backend's preflight (Check): the
// snippet is in the config nginx runs (`nginx -T`), lua-nginx-module runs
// Nonstop's Lua module (its ack file), and the state folder is one this
// machine can write; and how the state folder is found in the running
// config.

package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// initWorkerRE finds the snippet's init_worker call and its arguments.
var initWorkerRE = regexp.MustCompile(`require\s*\(?\s*["']nonstop["']\s*\)?\s*\.\s*init_worker\s*\(\s*["']([^"']+)["']\s*,\s*\{([^}]*)\}`)

// snippetParts is what the running config shows of the snippet.
type snippetParts struct {
	dir       string // the state folder as nginx names it
	upstreams []string
	dict      bool
	log       bool
	balance   bool // balance(UPSTREAM) for this backend's upstream
}

func findSnippet(l *Loaded, upstream string) snippetParts {
	var s snippetParts
	dictRE := regexp.MustCompile(`(?m)^\s*lua_shared_dict\s+nonstop\s`)
	logRE := regexp.MustCompile(`require\s*\(?\s*["']nonstop["']\s*\)?\s*\.\s*log\s*\(\s*\)`)
	balRE := regexp.MustCompile(`require\s*\(?\s*["']nonstop["']\s*\)?\s*\.\s*balance\s*\(\s*["']` + regexp.QuoteMeta(upstream) + `["']\s*\)`)
	for _, f := range l.Files {
		if m := initWorkerRE.FindSubmatch(f.Data); m != nil && s.dir == "" {
			s.dir = string(m[1])
			for _, q := range regexp.MustCompile(`["']([^"']+)["']`).FindAllSubmatch(m[2], -1) {
				s.upstreams = append(s.upstreams, string(q[1]))
			}
		}
		s.dict = s.dict || dictRE.Match(f.Data)
		s.log = s.log || logRE.Match(f.Data)
		s.balance = s.balance || balRE.Match(f.Data)
	}
	return s
}

// hostDir maps the state folder as nginx names it to this machine.
func hostDir(l *Loaded, name string) (string, error) {
	if l.Mounts == nil {
		return name, nil
	}
	if p := hostPathOf(name, l.Mounts); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("the state folder %s is inside the nginx container, where this machine cannot write: bind-mount a folder of this machine there (docker run -v /srv/nonstop:%s) and recreate the container", name, name)
}

// dirOf is the state folder nginx names name as Dynamic opens its files:
// that name with an Open (which reaches the container), else this
// machine's folder (hostDir).
func (d *Dynamic) dirOf(l *Loaded, name string) (string, error) {
	if d.o.Open != nil {
		return name, nil
	}
	return hostDir(l, name)
}

// stateDir is the state folder as Dynamic opens its files:
// DynamicOptions.StateDir, or found once in the running config.
func (d *Dynamic) stateDir(ctx context.Context) (string, error) {
	d.mu.Lock()
	dir := d.dir
	d.mu.Unlock()
	if dir != "" {
		return dir, nil
	}
	l, err := d.o.Runtime.Dump(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.o.Runtime, err)
	}
	s := findSnippet(l, d.o.Upstream)
	if s.dir == "" {
		return "", fmt.Errorf("%s runs no require(\"nonstop\").init_worker(DIR, ...): %s", d.o.Runtime, d.fix())
	}
	if dir, err = d.dirOf(l, s.dir); err != nil {
		return "", err
	}
	d.mu.Lock()
	d.dir = dir
	d.mu.Unlock()
	return dir, nil
}

func (d *Dynamic) fix() string {
	return fmt.Sprintf("add the snippet that `plan nginx-snippet -upstream %s -dir DIR` prints to nginx's config and reload nginx once (docs/dynamic.md)", d.o.Upstream)
}

// Check implements Membership: the upstream and every listed server are in
// the config, nginx runs and accepts its config, the config nginx runs
// holds the snippet for this upstream (which proves lua-nginx-module is
// loaded: nginx would refuse its directives otherwise), and the Lua module
// has written its ack file in the state folder (it runs, with the version
// this binary speaks, and can write there: it does so from its start,
// before any state exists). It changes nothing and reports
// every problem at once.
func (d *Dynamic) Check(ctx context.Context, servers []string) error {
	if err := d.valid(); err != nil {
		return err
	}
	var errs []error
	if have, err := d.configServers(ctx); err != nil {
		errs = append(errs, err)
	} else {
		for _, s := range servers {
			if err := validName("server", s); err != nil {
				errs = append(errs, err)
				continue
			}
			n := 0
			for _, h := range have {
				if h.Address == s {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, fmt.Errorf("%s: upstream %q has %d server lines for %q (want exactly one: they name the servers the reload-free backend balances to)", d.path, d.o.Upstream, n, s))
			}
		}
	}
	procs, err := d.o.Runtime.Processes(ctx)
	if err != nil {
		errs = append(errs, err)
	} else if _, _, ok := masterOf(procs); !ok {
		errs = append(errs, fmt.Errorf("%s: no nginx master process found", d.o.Runtime))
	}
	t := time.Now()
	l, err := d.o.Runtime.Dump(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: %w", d.o.Runtime, err))...)
	}
	d.o.Log.Debug().Str("op", "preflight").Str("upstream", d.o.Upstream).Dur("took", time.Since(t)).Msg("nginx: config test passed")
	s := findSnippet(l, d.o.Upstream)
	var missing []string
	if s.dir == "" {
		missing = append(missing, `init_worker_by_lua_block { require("nonstop").init_worker(DIR, {...}) }`)
	} else if !slices.Contains(s.upstreams, d.o.Upstream) {
		missing = append(missing, fmt.Sprintf("%q in the upstreams of init_worker (it lists %q)", d.o.Upstream, s.upstreams))
	}
	if !s.dict {
		missing = append(missing, "lua_shared_dict nonstop 1m;")
	}
	if !s.log {
		missing = append(missing, `log_by_lua_block { require("nonstop").log() }`)
	}
	if !s.balance {
		missing = append(missing, fmt.Sprintf(`balancer_by_lua_block { require("nonstop").balance(%q) } in upstream %s`, d.o.Upstream, d.o.Upstream))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%s does not run the reload-free balancer (mode = \"dynamic\") for upstream %q; missing from its config (nginx -T):\n    %s\n  Fix: %s",
			d.o.Runtime, d.o.Upstream, strings.Join(missing, "\n    "), d.fix()))
		return errors.Join(errs...)
	}
	dir := d.o.StateDir
	if dir == "" {
		if dir, err = d.dirOf(l, s.dir); err != nil {
			return errors.Join(append(errs, err)...)
		}
		d.mu.Lock()
		d.dir = dir
		d.mu.Unlock()
	}
	if d.o.Open == nil {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("state folder %s (nginx's %s): not a folder on this machine: %v", dir, s.dir, err))
			return errors.Join(errs...)
		}
	}
	// A worker that has just started may not have written it yet: a few
	// of its ticks. (Through Open, the ack also proves the folder is
	// reached: there is no folder to look at otherwise.)
	a, err := d.readAck(ctx, ackPath(dir, d.o.Upstream))
	for wait := time.Now().Add(time.Second); a == nil && err == nil && time.Now().Before(wait); {
		if err = sleepCtx(ctx, 50*time.Millisecond); err == nil {
			a, err = d.readAck(ctx, ackPath(dir, d.o.Upstream))
		}
	}
	switch {
	case err != nil:
		errs = append(errs, err)
	case a == nil:
		errs = append(errs, fmt.Errorf("%s: no ack from nginx (%s): nginx's workers do not run nonstop.lua or cannot write to %s (its error log says \"nonstop:\" or \"module 'nonstop' not found\"). Fix: install nonstop.lua there (plan nginx-snippet -lua), make the folder writable by nginx's worker user, and reload nginx once", d.o.Runtime, ackPath(dir, d.o.Upstream), s.dir))
	case a.Module != LuaModuleVersion:
		errs = append(errs, fmt.Errorf("nginx runs nonstop.lua version %q, this plan speaks version %q. Fix: install the module `plan nginx-snippet -lua` prints and reload nginx once", a.Module, LuaModuleVersion))
	}
	return errors.Join(errs...)
}
