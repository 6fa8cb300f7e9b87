// This file holds Dynamic, the reload-free backend of Membership (nginx
// block mode = "dynamic"): membership lives in a state file that the Lua
// module Nonstop ships (lua/nonstop.lua) reads into a shared dict and
// balances from, so a change is one atomic file write and no reload; the
// config file is never edited. Its preflight and the state folder's
// discovery are in dynamic_check.go, the files in dynamic_state.go, the
// waits in dynamic_wait.go.

package nginx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// BackendDynamic is Change.Backend for changes made by Dynamic. A journal
// of one backend is refused by the other: Balancer.Undo refuses it, and
// Dynamic.Undo refuses BackendReload (and the empty backend of older
// journals, which is the reload backend's).
const BackendDynamic = "dynamic"

// ErrNotApplied is wrapped when the Lua side did not acknowledge a new
// membership within DynamicOptions.AckTimeout (nginx is down, the module
// is not loaded, or its workers cannot read the state folder). The state
// file holds the previous membership again when this is returned.
var ErrNotApplied = errors.New("nginx did not apply the membership")

// AddrResolver returns the IP address that host (a server's host as
// written in the upstream) has now, where nginx runs. Containers get a new
// address when they are replaced, so Restore asks again every time.
type AddrResolver func(ctx context.Context, host string) (string, error)

// DynamicOptions configures a Dynamic for one upstream.
type DynamicOptions struct {
	// ConfigPath is the path of the file that holds the upstream: its
	// server lines name the servers (never edited).
	ConfigPath string
	// ConfigFile reads ConfigPath (e.g. a ContainerFile, through the
	// engine); nil: ConfigPath on this machine's disk.
	ConfigFile File
	// Upstream is the upstream's name.
	Upstream string
	// Runtime is the nginx that runs the upstream (preflight, `nginx -T`).
	Runtime Runtime
	// StateDir is the state folder, named as Open names files (on this
	// machine without Open). Empty: found in the running config (the
	// init_worker call of the snippet); without Open, mapped to this
	// machine through the container's mounts.
	StateDir string
	// Open opens the files of the state folder by the path nginx knows
	// them by (inside its container), e.g. ContainerStateFile through the
	// engine that runs nginx: the state is then written the way config
	// edits are, and a remote engine's nginx works. Nil: this machine's
	// files.
	Open FileOpener
	// Resolve finds a server's current address; nil: IP literals as they
	// are, other hosts through this machine's resolver.
	Resolve AddrResolver
	// AckTimeout bounds the wait for the Lua side to use a new membership
	// (default 10s).
	AckTimeout time.Duration
	// Poll is how often the ack file is read while waiting (default 10ms).
	Poll time.Duration
	// Shared serializes the writes of one state file across the caller's
	// backends (nil: its own).
	Shared *Shared
	Log    zerolog.Logger
}

// Dynamic is the reload-free backend of Membership and Batcher. It is safe
// for concurrent use; writes of one state file are serialized through
// Options.Shared.
type Dynamic struct {
	o      DynamicOptions
	path   string // cleaned absolute ConfigPath
	shared *Shared

	mu    sync.Mutex
	dir   string          // the state folder, once known
	files map[string]File // the files opened in it
	// wmu is held while the state file is written or read (Options.Shared's
	// lock is held much longer, during the wait for the ack).
	wmu sync.Mutex
}

var (
	_ Membership = (*Dynamic)(nil)
	_ Batcher    = (*Dynamic)(nil)
)

// NewDynamic returns a Dynamic; it does no I/O.
func NewDynamic(o DynamicOptions) *Dynamic {
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 10 * time.Millisecond
	}
	p := filepath.Clean(o.ConfigPath)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	sh := o.Shared
	if sh == nil {
		sh = NewShared()
	}
	return &Dynamic{o: o, path: p, shared: sh, dir: o.StateDir}
}

// String names the backend for messages.
func (d *Dynamic) String() string {
	return fmt.Sprintf("upstream %q of %s, reload-free (%s)", d.o.Upstream, d.path, runtimeName(d.o.Runtime))
}

func (d *Dynamic) valid() error { return validTarget(d.o.ConfigPath, d.o.Upstream, d.o.Runtime) }

// configServers reads the upstream's server lines.
func (d *Dynamic) configServers(ctx context.Context) ([]*Server, error) {
	src, err := d.config().Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	cfg, err := ParseConfig(d.path, src)
	if err != nil {
		return nil, err
	}
	u, err := cfg.findUpstream(d.o.Upstream)
	if err != nil {
		return nil, err
	}
	return u.Servers, nil
}

// current is the membership as it is: the state file, completed with the
// upstream's server lines it does not list (all of them before the first
// change). With resolve, every server in rotation without an address gets
// one.
func (d *Dynamic) current(ctx context.Context, dir string, resolve bool) (*state, error) {
	st, err := d.readState(ctx, statePath(dir, d.o.Upstream))
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &state{}
	}
	servers, err := d.configServers(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		if st.peer(s.Address) != nil {
			continue
		}
		p := statePeer{Name: s.Address, Down: s.Down, Weight: s.Weight}
		for _, param := range s.Params {
			p.Backup = p.Backup || param == "backup"
		}
		st.Peers = append(st.Peers, p)
	}
	if resolve {
		for i := range st.Peers {
			p := &st.Peers[i]
			if p.Down || p.Addr != "" {
				continue
			}
			if p.Addr, err = d.addr(ctx, p.Name); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

// addr is the IP:port nginx must connect to for a server as written.
func (d *Dynamic) addr(ctx context.Context, server string) (string, error) {
	host, port := splitAddress(server)
	if strings.HasPrefix(host, "unix:") {
		return "", fmt.Errorf("server %q: the reload-free backend cannot balance to unix sockets", server)
	}
	if port == "" {
		port = "80"
	}
	ip := host
	if net.ParseIP(host) == nil {
		var err error
		if ip, err = d.resolve(ctx, host); err != nil {
			return "", &unresolvableError{fmt.Errorf("refusing to put %q into rotation in upstream %q (nothing was changed): %w", server, d.o.Upstream, err)}
		}
	}
	return net.JoinHostPort(ip, port), nil
}

func (d *Dynamic) resolve(ctx context.Context, host string) (string, error) {
	if d.o.Resolve != nil {
		return d.o.Resolve(ctx, host)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}

// Members implements Membership.
func (d *Dynamic) Members(ctx context.Context) ([]Member, error) {
	if err := d.valid(); err != nil {
		return nil, err
	}
	dir, err := d.stateDir(ctx)
	if err != nil {
		return nil, err
	}
	st, err := d.current(ctx, dir, false)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(st.Peers))
	for _, p := range st.Peers {
		out = append(out, Member{Address: p.Name, Down: p.Down, Weight: p.Weight, Backup: p.Backup})
	}
	return out, nil
}

// MarkDown implements Membership: the server gets no new request once the
// Lua side acknowledged the change (before MarkDown returns); wait with
// WaitDrained for the ones it has.
func (d *Dynamic) MarkDown(ctx context.Context, server string) (Change, error) {
	cs, err := d.ChangeMany(ctx, []Change{{Op: OpMarkDown, Server: server}})
	return first(cs), err
}

// Restore implements Membership: the server goes back into rotation at
// the address its host has now (a replaced container has a new one).
func (d *Dynamic) Restore(ctx context.Context, server string) (Change, error) {
	cs, err := d.ChangeMany(ctx, []Change{{Op: OpRestore, Server: server}})
	return first(cs), err
}

// SetWeight implements Membership.
func (d *Dynamic) SetWeight(ctx context.Context, server string, weight int) (Change, error) {
	cs, err := d.ChangeMany(ctx, []Change{{Op: OpSetWeight, Server: server, Weight: weight}})
	return first(cs), err
}

func first(cs []Change) Change {
	if len(cs) == 0 {
		return Change{}
	}
	return cs[0]
}

// edit is one server's change inside a commit.
type edit struct {
	server string
	op     string
	apply  func(p *statePeer)
	up     bool // the server ends in rotation: its address is resolved again
	// prep, when set, changes the state's other peers before apply (a
	// detour's extra peer, dynamic_detour.go); true: it changed something.
	prep func(st *state) bool
	// addr is a detour's address, recorded in the Change before the
	// WithBeforeChange hook sees it.
	addr string
}

// ChangeMany implements Batcher: all wants in one state write.
func (d *Dynamic) ChangeMany(ctx context.Context, wants []Change) ([]Change, error) {
	edits := make([]edit, len(wants))
	for i, w := range wants {
		edits[i] = edit{server: w.Server, op: w.Op}
		switch w.Op {
		case OpMarkDown:
			edits[i].apply = func(p *statePeer) { p.Down = true }
		case OpRestore:
			edits[i].apply, edits[i].up = func(p *statePeer) { p.Down = false }, true
		case OpSetWeight:
			weight := w.Weight
			edits[i].apply = func(p *statePeer) { p.Weight = weight }
		default:
			return make([]Change, len(wants)), fmt.Errorf("nginx: the reload-free backend cannot %q: %w", w.Op, errors.ErrUnsupported)
		}
	}
	cs, err := d.commit(ctx, edits, true)
	for i := range cs {
		cs[i].Weight = wants[i].Weight
	}
	return cs, err
}

// Undo implements Membership: the server's previous down and weight, also
// from a Change decoded from a journal.
func (d *Dynamic) Undo(ctx context.Context, c Change) error {
	return d.UndoMany(ctx, []Change{c})
}

// UndoMany implements Batcher: every change reverted in one state write
// (in reverse order, so the earliest change's previous state wins).
func (d *Dynamic) UndoMany(ctx context.Context, cs []Change) error {
	var edits []edit
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.Noop {
			continue
		}
		if c.Backend != BackendDynamic {
			b := c.Backend
			if b == "" {
				b = BackendReload
			}
			return fmt.Errorf("nginx: change was made by the %q backend, this is the %q backend (mode = \"dynamic\"): undo it with the nginx block's mode it was made with", b, BackendDynamic)
		}
		if c.Upstream != d.o.Upstream {
			return fmt.Errorf("nginx: change is for upstream %q, this backend manages %q", c.Upstream, d.o.Upstream)
		}
		e := edit{server: c.Server, op: "undo_" + c.Op}
		switch c.Op {
		case OpMarkDown, OpRestore:
			prev := c.PrevDown
			e.apply, e.up = func(p *statePeer) { p.Down = prev }, !prev
		case OpSetWeight:
			prev := c.PrevWeight
			e.apply = func(p *statePeer) { p.Weight = prev }
		case OpDetour, OpEndDetour:
			e = undoDetourEdit(c)
		default:
			return fmt.Errorf("nginx: cannot undo unknown operation %q", c.Op)
		}
		edits = append(edits, e)
	}
	if len(edits) == 0 {
		return nil
	}
	_, err := d.commit(ctx, edits, false)
	return err
}

// commit applies edits to the current membership and writes it as one new
// version, then waits until the Lua side uses it. On error the state file
// holds the previous membership (unless the error wraps
// ErrRestoreFailed). hook calls WithBeforeChange's function per change.
func (d *Dynamic) commit(ctx context.Context, edits []edit, hook bool) ([]Change, error) {
	cs := make([]Change, len(edits))
	for i, e := range edits {
		cs[i] = Change{Backend: BackendDynamic, Upstream: d.o.Upstream, Server: e.server, Op: e.op, Config: d.path, Addr: e.addr}
	}
	if err := d.valid(); err != nil {
		return cs, err
	}
	dir, err := d.stateDir(ctx)
	if err != nil {
		return cs, err
	}
	path := statePath(dir, d.o.Upstream)
	unlock := d.shared.lock(path, d.o.Runtime.String())
	defer unlock()
	prev, err := d.current(ctx, dir, false)
	if err != nil {
		return cs, err
	}
	next, err := d.current(ctx, dir, true)
	if err != nil {
		return cs, err
	}
	changed := false
	for i, e := range edits {
		prepped := e.prep != nil && e.prep(next)
		p := next.peer(e.server)
		if p == nil {
			return cs, fmt.Errorf("%s: upstream %q has no server %q", d.path, d.o.Upstream, e.server)
		}
		before := *p
		cs[i].PrevDown, cs[i].PrevWeight = p.Down, p.Weight
		if old := prev.peer(e.server); old != nil {
			cs[i].PrevAddr = old.Addr
		}
		e.apply(p)
		if e.up && !p.Down {
			if p.Addr, err = d.addr(ctx, p.Name); err != nil {
				return cs, err
			}
			if e.addr == "" {
				cs[i].Addr = p.Addr
			}
		}
		if !prepped && *p == before && (prev.peer(e.server) == nil || *prev.peer(e.server) == before) {
			cs[i].Noop = true
			d.o.Log.Info().Str("op", e.op).Str("upstream", d.o.Upstream).Str("server", e.server).Msg("nginx: server already in the requested state; nothing to do")
			continue
		}
		changed = true
	}
	if !changed && prev.Version > 0 {
		return cs, nil
	}
	if hook {
		for i := range cs {
			if cs[i].Noop {
				continue
			}
			if err := beforeChange(ctx, cs[i]); err != nil {
				return cs, fmt.Errorf("before changing upstream %q: %w (nothing was changed)", d.o.Upstream, err)
			}
		}
	}
	next.Version = prev.Version + 1
	t := time.Now()
	if err := d.writeState(ctx, path, next); err != nil {
		return cs, fmt.Errorf("writing %s: %w", path, err)
	}
	for i := range cs {
		if !cs[i].Noop {
			cs[i].ReloadedAt = t
		}
	}
	err = d.waitAck(ctx, dir, next.Version)
	log := d.o.Log.With().Str("upstream", d.o.Upstream).Int("version", next.Version).Dur("took", time.Since(t)).Logger()
	if err == nil {
		log.Info().Msg("nginx: membership applied without reload")
		return cs, nil
	}
	// Put the previous membership back, as a newer version so that a Lua
	// side that comes back takes it.
	prev.Version = next.Version + 1
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if werr := d.writeState(wctx, path, prev); werr != nil {
		return cs, fmt.Errorf("%w; and writing the previous membership back failed: %w: %v", err, ErrRestoreFailed, werr)
	}
	log.Warn().Err(err).Msg("nginx: membership not applied; previous membership written back")
	return cs, err
}

var _ Handoffer = (*Dynamic)(nil)

// Handoff implements Handoffer: in is put back and out taken out in one
// state write (one version, so no moment has both or neither).
func (d *Dynamic) Handoff(ctx context.Context, in, out string) (inChange, outChange Change, err error) {
	if in == out {
		return Change{}, Change{}, fmt.Errorf("nginx: hand-off from %q to itself", in)
	}
	cs, err := d.ChangeMany(ctx, []Change{{Op: OpRestore, Server: in}, {Op: OpMarkDown, Server: out}})
	return cs[0], cs[1], err
}
