// This file holds Balancer, the reload backend of Membership, and its
// membership edits: the preflight (Check), reading the members, and
// MarkDown / Restore / SetWeight / Detour / Handoff (and, in a batch,
// OpSetBackup / OpUnsetBackup), each a minimal edit of
// the upstream's server lines committed by one `nginx -t` and one reload
// (reload.go). Undo is in undo.go, drain detection in drain.go.

package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Options configures a Balancer for one upstream in one config file.
type Options struct {
	// ConfigPath is the host path of the file that holds the upstream.
	ConfigPath string
	// Upstream is the name of the upstream block to edit.
	Upstream string
	// Runtime is the nginx that loads ConfigPath.
	Runtime Runtime
	// WriteInPlace rewrites the file in place (O_TRUNC, write, fsync)
	// instead of temp file + rename. Required when the file is bind-mounted
	// into a container on its own: a rename replaces the inode, and the
	// container would keep seeing the old file.
	WriteInPlace bool
	// ReloadTimeout bounds the wait for the new worker generation after a
	// reload (default 10s).
	ReloadTimeout time.Duration
	// Shared is what this Balancer shares with the other Balancers of the
	// caller: the locks that serialize edits of one file and reloads of
	// one nginx, and the contents `nginx -t` accepted. Nil: a Shared of its
	// own (right only when no other Balancer touches the same file or
	// nginx).
	Shared *Shared
	// Log receives operator-level events (debug: each write/test; info: each
	// reload and drain) with durations. The zero Logger discards.
	Log zerolog.Logger
	// File is how ConfigPath is read and written (see File); nil: on this
	// machine's disk, LocalFile(ConfigPath, WriteInPlace).
	File File
}

// Balancer is the reload backend of Membership: every change is a minimal
// edit of the config file, `nginx -t`, and a reload, and draining is
// watching the previous worker generation exit. It is safe for concurrent
// use; edits to the same file or the same nginx are serialized across all
// Balancers built with the same Options.Shared.
type Balancer struct {
	o      Options
	path   string // cleaned absolute ConfigPath, the lock key
	shared *Shared
}

// New returns a Balancer; it does no I/O (see Check for the preflight).
func New(o Options) *Balancer {
	if o.ReloadTimeout <= 0 {
		o.ReloadTimeout = 10 * time.Second
	}
	p := filepath.Clean(o.ConfigPath)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	sh := o.Shared
	if sh == nil {
		sh = NewShared()
	}
	return &Balancer{o: o, path: p, shared: sh}
}

// String names the balancer for messages.
func (b *Balancer) String() string {
	return fmt.Sprintf("upstream %q in %s (%s)", b.o.Upstream, b.path, runtimeName(b.o.Runtime))
}

// runtimeName names rt for messages, also when it is missing.
func runtimeName(rt Runtime) string {
	if rt == nil {
		return "no runtime"
	}
	return rt.String()
}

func (b *Balancer) valid() error { return validTarget(b.o.ConfigPath, b.o.Upstream, b.o.Runtime) }

// validTarget checks what every backend needs to know which nginx and
// which upstream it changes, reporting every missing part at once.
func validTarget(configPath, upstream string, rt Runtime) error {
	var errs []error
	if configPath == "" {
		errs = append(errs, errors.New("nginx: no config path"))
	}
	if upstream == "" {
		errs = append(errs, errors.New("nginx: no upstream name"))
	} else if err := validName("upstream", upstream); err != nil {
		errs = append(errs, fmt.Errorf("nginx: %w", err))
	}
	if rt == nil {
		errs = append(errs, errors.New("nginx: no runtime (container or host)"))
	}
	return errors.Join(errs...)
}

// Check is the preflight run before any change: the file is readable and
// parses, the upstream and every listed server line exist (exactly once),
// nginx is running, `nginx -t` passes, and the file is one nginx loads,
// with the bytes on disk (`nginx -T`; see ErrNotLoaded). It returns all problems at once
// (errors.Join) so a plan can be fixed in one go, and changes nothing.
func (b *Balancer) Check(ctx context.Context, servers []string) error {
	if err := b.valid(); err != nil {
		return err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
	defer unlock()
	var errs []error
	src, err := b.read(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("nginx config: %w", err))
	} else if cfg, err := ParseConfig(b.path, src); err != nil {
		errs = append(errs, err)
	} else if u, err := cfg.findUpstream(b.o.Upstream); err != nil {
		errs = append(errs, err)
	} else {
		for _, s := range servers {
			if err := validName("server", s); err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := u.findServer(b.path, s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, b.checkWritable(ctx))
	procs, err := b.o.Runtime.Processes(ctx)
	if err != nil {
		errs = append(errs, err)
	} else if _, _, ok := masterOf(procs); !ok {
		errs = append(errs, fmt.Errorf("%s: no nginx master process found", b.o.Runtime))
	}
	// `nginx -T` is `nginx -t` that also shows every file nginx loads:
	// one exec proves both that nginx accepts the config and that the
	// file to edit is one it loads, with the bytes on disk.
	t := time.Now()
	if l, err := b.o.Runtime.Dump(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", b.o.Runtime, err))
	} else {
		b.o.Log.Debug().Str("op", "preflight").Str("upstream", b.o.Upstream).Dur("took", time.Since(t)).Int("files", len(l.Files)).Msg("nginx: config test passed")
		if src != nil {
			b.shared.markPassed(b.path, b.o.Runtime.String(), src)
			if name, err := l.prove(b.o.Runtime.String(), b.path, b.o.Upstream, src); err != nil {
				errs = append(errs, err)
			} else {
				b.o.Log.Debug().Str("file", b.path).Str("loaded_as", name).Msg("nginx: the config to edit is a file nginx loads")
			}
		}
	}
	return errors.Join(errs...)
}

// Members implements Membership: the servers of the upstream in file order.
func (b *Balancer) Members(ctx context.Context) ([]Member, error) {
	if err := b.valid(); err != nil {
		return nil, err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String()) // an in-place write is not atomic
	defer unlock()
	src, err := b.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	cfg, err := ParseConfig(b.path, src)
	if err != nil {
		return nil, err
	}
	u, err := cfg.findUpstream(b.o.Upstream)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(u.Servers))
	for _, s := range u.Servers {
		m := Member{Address: s.Address, Down: s.Down, Weight: s.Weight}
		for _, p := range s.Params {
			if p == "backup" {
				m.Backup = true
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// MarkDown adds `down` to the server's line and reloads, so that nginx stops
// sending it new requests. Requests already in flight finish on the old
// workers: call WaitDrained with the returned Change before stopping the
// server. Already down: a Noop Change.
func (b *Balancer) MarkDown(ctx context.Context, server string) (Change, error) {
	return b.change(ctx, Change{Op: OpMarkDown, Server: server})
}

// Restore removes `down` from the server's line and reloads, putting the
// server back into rotation. It first checks that the server's host
// resolves where nginx runs and refuses, writing nothing, if it does not.
// Not down: a Noop Change.
func (b *Balancer) Restore(ctx context.Context, server string) (Change, error) {
	return b.change(ctx, Change{Op: OpRestore, Server: server})
}

// SetWeight sets the server's `weight=` (0 removes it, meaning nginx's
// default 1) and reloads: the primitive of canary and blue/green shifts.
func (b *Balancer) SetWeight(ctx context.Context, server string, weight int) (Change, error) {
	return b.change(ctx, Change{Op: OpSetWeight, Server: server, Weight: weight})
}

// Detour implements Detourer: in one reload, the server is marked down
// and a line for addr (IP:port) takes its place (see AddDetour), so nginx
// sends the server's requests to addr whatever its name resolves to. Wait
// with WaitDrained for the requests the server had.
func (b *Balancer) Detour(ctx context.Context, server, addr string) (Change, error) {
	return b.change(ctx, Change{Op: OpDetour, Server: server, Addr: addr})
}

// EndDetour implements Detourer: in one reload, the line for addr goes
// and the server's down is set to wasDown (the detour's Change.PrevDown),
// after checking that the server's host resolves if it comes back up.
func (b *Balancer) EndDetour(ctx context.Context, server, addr string, wasDown bool) (Change, error) {
	return b.change(ctx, Change{Op: OpEndDetour, Server: server, Addr: addr, PrevDown: wasDown})
}

// Handoff implements Handoffer: in one edit and one reload, server in is
// put back (as Restore) and server out marked down (as MarkDown). A rolling
// update's "restore this one, drain the next one" costs one reload instead
// of two: every reload makes nginx close its idle keep-alive connections,
// which a client racing it sees as a reset, and takes nginx at least 100 ms.
// The returned Changes are each undone on their own (Undo). Wait with
// WaitDrained(outChange) for out's requests.
func (b *Balancer) Handoff(ctx context.Context, in, out string) (inChange, outChange Change, err error) {
	if in == out {
		return Change{}, Change{}, fmt.Errorf("nginx: hand-off from %q to itself", in)
	}
	cs, err := b.changes(ctx, []Change{{Op: OpRestore, Server: in}, {Op: OpMarkDown, Server: out}})
	return cs[0], cs[1], err
}

// change makes the edit that want describes (Op, Server and the op's own
// fields): a minimal edit, `nginx -t`, reload, confirmed.
func (b *Balancer) change(ctx context.Context, want Change) (Change, error) {
	cs, err := b.changes(ctx, []Change{want})
	return cs[0], err
}

// changes makes the edits, one after the other on the file's bytes, and
// commits them together: one `nginx -t` and one reload. An edit that
// changes nothing is a Noop Change; when all are, nothing is reloaded.
func (b *Balancer) changes(ctx context.Context, wants []Change) ([]Change, error) {
	cs := make([]Change, len(wants))
	for i, w := range wants {
		cs[i] = Change{Backend: BackendReload, Upstream: b.o.Upstream, Server: w.Server, Op: w.Op, Config: b.path, Weight: w.Weight, Addr: w.Addr}
	}
	if err := b.valid(); err != nil {
		return cs, err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
	defer unlock()

	src, err := b.read(ctx)
	if err != nil {
		return cs, fmt.Errorf("nginx config: %w", err)
	}
	var ops, servers []string
	var resolve []*Server
	cur := src
	for i, w := range wants {
		_, s, err := locate(b.path, cur, b.o.Upstream, w.Server)
		if err != nil {
			return cs, err
		}
		cs[i].PrevDown, cs[i].PrevWeight, cs[i].PrevBackup = s.Down, s.Weight, isBackup(s)
		var out []byte
		switch w.Op {
		case OpMarkDown:
			out, err = setDown(b.path, cur, b.o.Upstream, w.Server, true)
		case OpRestore:
			out, err = setDown(b.path, cur, b.o.Upstream, w.Server, false)
		case OpSetWeight:
			out, err = setWeight(b.path, cur, b.o.Upstream, w.Server, w.Weight)
		case OpDetour:
			out, err = addDetour(b.path, cur, b.o.Upstream, w.Server, w.Addr)
		case OpEndDetour:
			out, err = endDetour(b.path, cur, b.o.Upstream, w.Server, w.Addr, w.PrevDown)
		case OpSetBackup:
			out, err = setBackup(b.path, cur, b.o.Upstream, w.Server, true)
		case OpUnsetBackup:
			out, err = setBackup(b.path, cur, b.o.Upstream, w.Server, false)
		default:
			err = fmt.Errorf("nginx: unknown operation %q", w.Op)
		}
		if err != nil {
			return cs, err
		}
		if bytes.Equal(out, cur) {
			cs[i].Noop = true
			b.o.Log.Info().Str("op", w.Op).Str("upstream", b.o.Upstream).Str("server", w.Server).Msg("nginx: server already in the requested state; nothing to do")
			continue
		}
		if w.Op == OpRestore || w.Op == OpEndDetour && s.Down && !w.PrevDown || w.Op == OpUnsetBackup && !s.Down {
			resolve = append(resolve, s)
		}
		cs[i].Before = string(cur[s.start:s.end])
		if _, ns, err := locate(b.path, out, b.o.Upstream, w.Server); err == nil {
			cs[i].After = string(out[ns.start:ns.end])
		}
		ops, servers = append(ops, w.Op), append(servers, w.Server)
		cur = out
	}
	if len(ops) == 0 {
		return cs, nil
	}
	for _, s := range resolve {
		if err := b.resolves(ctx, s); err != nil {
			return cs, err
		}
	}
	for i := range cs {
		if cs[i].Noop {
			continue
		}
		if err := beforeChange(ctx, cs[i]); err != nil {
			return cs, fmt.Errorf("before changing %s: %w (nothing was changed)", b.path, err)
		}
	}
	log := b.o.Log.With().Str("op", strings.Join(ops, "+")).Str("upstream", b.o.Upstream).Str("server", strings.Join(servers, "+")).Logger()
	var shared Change
	err = b.commit(ctx, log, src, cur, &shared)
	for i := range cs {
		if !cs[i].Noop {
			cs[i].OldWorkers, cs[i].ReloadedAt = shared.OldWorkers, shared.ReloadedAt
		}
	}
	return cs, err
}

// CheckBackup is the preflight of a batch that will mark servers `backup`
// (a blue/green with idle = "backup"): it refuses, wrapping
// ErrBackupUnsupported, an upstream whose balancing method nginx allows no
// backup servers with (hash, ip_hash, random), so that the plan stops
// before it deploys anything rather than at the cut-over. It changes
// nothing.
func (b *Balancer) CheckBackup(ctx context.Context) error {
	if err := b.valid(); err != nil {
		return err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
	defer unlock()
	src, err := b.read(ctx)
	if err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	cfg, err := ParseConfig(b.path, src)
	if err != nil {
		return err
	}
	if m := cfg.balancing(b.o.Upstream); m != "" {
		return fmt.Errorf("%w: upstream %q of %s is balanced by %q. Remove %s from the upstream (round robin or least_conn support backup), or use idle = \"down\"",
			ErrBackupUnsupported, b.o.Upstream, b.path, m, m)
	}
	return nil
}
