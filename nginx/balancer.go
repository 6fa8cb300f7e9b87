package nginx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Membership is what steps need from a load balancer: take a server out of
// rotation, put it back, shift weight, undo any of that from a journal, and
// know when the requests that were in flight before the change are done. The
// reload backend (Balancer) implements it; a reload-free Lua backend will
// implement it too, so steps should hold a Membership, not a *Balancer.
type Membership interface {
	Check(ctx context.Context, servers []string) error
	// Members lists the upstream's servers as they are now, without
	// changing anything: what preflight and "is there anything to do?"
	// look at.
	Members(ctx context.Context) ([]Member, error)
	MarkDown(ctx context.Context, server string) (Change, error)
	Restore(ctx context.Context, server string) (Change, error)
	SetWeight(ctx context.Context, server string, weight int) (Change, error)
	// Detour sends a server's requests to addr (IP:port) instead, in one
	// step, and EndDetour stops that: what moves a single replica between
	// two containers that answer to the same name (start-first deploys).
	Detour(ctx context.Context, server, addr string) (Change, error)
	EndDetour(ctx context.Context, server, addr string, wasDown bool) (Change, error)
	// Handoff restores in and marks out down in one step (a rolling
	// update's "restore this one, drain the next one").
	Handoff(ctx context.Context, in, out string) (inChange, outChange Change, err error)
	Undo(ctx context.Context, c Change) error
	WaitDrained(ctx context.Context, c Change, timeout time.Duration) (DrainReport, error)
	WaitOldWorkers(ctx context.Context, server string, timeout time.Duration) (DrainReport, error)
	// Refresh makes nginx take up the world as it is now without changing
	// the membership: the reload backend reloads (nginx resolves every
	// upstream host again), after `nginx -t`.
	Refresh(ctx context.Context) error
	// Resolves says whether a server's host resolves where nginx runs; the
	// error wraps ErrUnresolvable when the answer is no.
	Resolves(ctx context.Context, server string) error
}

var _ Membership = (*Balancer)(nil)

// Member is one server of an upstream as a Membership sees it.
type Member struct {
	Address string `json:"address"`
	Down    bool   `json:"down,omitempty"`
	// Backup servers get traffic only when every other server is down.
	Backup bool `json:"backup,omitempty"`
	// Weight is 0 when not set (nginx's default, 1).
	Weight int `json:"weight,omitempty"`
}

type beforeChangeKey struct{}

// WithBeforeChange returns a context that makes the membership operations
// (MarkDown, Restore, SetWeight) call fn with the Change they are about to
// make, once they know it and before they write or reload anything. An
// error from fn aborts the operation with nothing changed. Apply journals
// use it: if the process dies between that moment and the operation's
// result, the journal still holds what the change was (Undo works from it,
// whether or not the change went through).
func WithBeforeChange(ctx context.Context, fn func(Change) error) context.Context {
	return context.WithValue(ctx, beforeChangeKey{}, fn)
}

func beforeChange(ctx context.Context, c Change) error {
	if fn, ok := ctx.Value(beforeChangeKey{}).(func(Change) error); ok && fn != nil {
		return fn(c)
	}
	return nil
}

// ErrRestoreFailed is wrapped when a change failed and putting the
// previous config back failed too: the file may hold the failed edit. The
// Change returned with it says what to undo.
var ErrRestoreFailed = errors.New("restoring the previous config failed")

// BackendReload is Change.Backend for changes made by Balancer, so that a
// journal replayed by another backend (the planned Lua one) is refused
// instead of misapplied.
const BackendReload = "reload"

// Operation names recorded in Change.Op; they are stored in journals, so
// they never change.
const (
	OpMarkDown  = "mark_down"
	OpRestore   = "restore"
	OpSetWeight = "set_weight"
	// OpDetour marks a server down and adds a line sending its share to
	// Change.Addr (see AddDetour); OpEndDetour removes that line and puts
	// the server's down back as it was.
	OpDetour    = "detour"
	OpEndDetour = "end_detour"
)

// ErrReloadUnconfirmed is wrapped when nginx accepted the signal but no new
// worker generation appeared within Options.ReloadTimeout: nginx most likely
// rejected the config at load time (its error log says why), so the new
// membership is not live. The edit has been reverted when this is returned.
var ErrReloadUnconfirmed = errors.New("reload not confirmed")

// ErrUnresolvable is wrapped when Restore (or an Undo that puts a server
// back) refuses because the server's host does not resolve where nginx runs:
// nginx would refuse the whole config, and the server is not there to take
// traffic anyway.
var ErrUnresolvable = errors.New("server host does not resolve")

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
	// Log receives operator-level events (debug: each write/test; info: each
	// reload and drain) with durations. The zero Logger discards.
	Log zerolog.Logger
}

// Balancer is the reload backend of Membership: every change is a minimal
// edit of the config file, `nginx -t`, and a reload, and draining is
// watching the previous worker generation exit. It is safe for concurrent
// use; edits to the same file or the same nginx are serialized across all
// Balancers in the process.
type Balancer struct {
	o    Options
	path string // cleaned absolute ConfigPath, the lock key
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
	return &Balancer{o: o, path: p}
}

// Change records one membership change with what is needed to undo it. It
// goes into the apply journal as JSON, and Undo works from a Change decoded
// in another process.
type Change struct {
	// Backend is the Membership implementation that made the change
	// (BackendReload); empty is read as BackendReload.
	Backend  string `json:"backend,omitempty"`
	Upstream string `json:"upstream"`
	Server   string `json:"server"`
	// Op is one of OpMarkDown, OpRestore, OpSetWeight, OpDetour,
	// OpEndDetour.
	Op string `json:"op"`
	// PrevDown and PrevWeight are the server's state before the change (the
	// semantic inverse, used when the line was edited by someone else since).
	PrevDown   bool `json:"prev_down"`
	PrevWeight int  `json:"prev_weight"`
	// Weight is the weight set by OpSetWeight (0: removed).
	Weight int `json:"weight,omitempty"`
	// Addr is the IP:port of a detour (OpDetour, OpEndDetour).
	Addr string `json:"addr,omitempty"`
	// Noop means the server was already in the requested state: nothing was
	// written or reloaded, and there is nothing to undo or drain.
	Noop bool `json:"noop,omitempty"`
	// OldWorkers are the PIDs of the nginx children before the reload: the
	// generation that may still hold requests to the changed server.
	OldWorkers []int `json:"old_workers,omitempty"`
	// ReloadedAt is when the reload was sent.
	ReloadedAt time.Time `json:"reloaded_at,omitzero"`
	// Config is the absolute path of the edited file.
	Config string `json:"config,omitempty"`
	// Before and After are the server directive's exact bytes before and
	// after the edit, so that Undo restores the line byte for byte.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// DrainReport says how draining went. A timeout is a warning for the caller
// (long-lived connections such as websockets keep old workers alive until
// worker_shutdown_timeout), not an error.
type DrainReport struct {
	// Took is from the reload (Change.ReloadedAt) to the moment no old
	// worker was left, or to the timeout.
	Took     time.Duration `json:"took"`
	TimedOut bool          `json:"timed_out,omitempty"`
	// Remaining are the old-generation processes still alive at the timeout.
	Remaining []Process `json:"remaining,omitempty"`
	// Conns are the connections the Remaining processes still held at the
	// timeout, where the runtime can tell (ConnLister): what the user needs
	// to know to find the long-lived client.
	Conns []Conn `json:"conns,omitempty"`
}

// String names the balancer for messages.
func (b *Balancer) String() string {
	rt := "no runtime"
	if b.o.Runtime != nil {
		rt = b.o.Runtime.String()
	}
	return fmt.Sprintf("upstream %q in %s (%s)", b.o.Upstream, b.path, rt)
}

func (b *Balancer) valid() error {
	var errs []error
	if b.o.ConfigPath == "" {
		errs = append(errs, errors.New("nginx: no config path"))
	}
	if b.o.Upstream == "" {
		errs = append(errs, errors.New("nginx: no upstream name"))
	} else if err := validName("upstream", b.o.Upstream); err != nil {
		errs = append(errs, fmt.Errorf("nginx: %w", err))
	}
	if b.o.Runtime == nil {
		errs = append(errs, errors.New("nginx: no runtime (container or host)"))
	}
	return errors.Join(errs...)
}

// Check is the preflight run before any change: the file is readable and
// parses, the upstream and every listed server line exist (exactly once),
// nginx is running, and `nginx -t` passes. It returns all problems at once
// (errors.Join) so a plan can be fixed in one go, and changes nothing.
func (b *Balancer) Check(ctx context.Context, servers []string) error {
	if err := b.valid(); err != nil {
		return err
	}
	unlock := lock(b.path, b.o.Runtime.String())
	defer unlock()
	var errs []error
	src, err := os.ReadFile(b.path)
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
	procs, err := b.o.Runtime.Processes(ctx)
	if err != nil {
		errs = append(errs, err)
	} else if _, _, ok := masterOf(procs); !ok {
		errs = append(errs, fmt.Errorf("%s: no nginx master process found", b.o.Runtime))
	}
	t := time.Now()
	if err := b.o.Runtime.Test(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", b.o.Runtime, err))
	} else {
		b.o.Log.Debug().Str("op", "preflight").Str("upstream", b.o.Upstream).Dur("took", time.Since(t)).Msg("nginx: config test passed")
		if src != nil {
			markPassed(b.path, b.o.Runtime.String(), src)
		}
	}
	return errors.Join(errs...)
}

// Members implements Membership: the servers of the upstream in file order.
func (b *Balancer) Members(ctx context.Context) ([]Member, error) {
	if err := b.valid(); err != nil {
		return nil, err
	}
	unlock := lock(b.path, b.o.Runtime.String()) // an in-place write is not atomic
	defer unlock()
	src, err := os.ReadFile(b.path)
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

// Refresh implements Membership: `nginx -t`, reload, and wait for the new
// worker generation, writing nothing.
func (b *Balancer) Refresh(ctx context.Context) error {
	if err := b.valid(); err != nil {
		return err
	}
	unlock := lock(b.path, b.o.Runtime.String())
	defer unlock()
	rt := b.o.Runtime
	procs, err := rt.Processes(ctx)
	if err != nil {
		return err
	}
	_, children, ok := masterOf(procs)
	if !ok {
		return fmt.Errorf("%s: no nginx master process found", rt)
	}
	old := make(map[int]bool, len(children))
	for _, p := range children {
		old[p.PID] = true
	}
	if err := rt.Test(ctx); err != nil {
		return fmt.Errorf("%s: %w", rt, err)
	}
	if err := rt.Reload(ctx); err != nil {
		return fmt.Errorf("reloading %s: %w", rt, err)
	}
	return b.waitGeneration(ctx, old)
}

// Resolves implements Membership for a server of the upstream, as written
// in its line (e.g. "app2:3000").
func (b *Balancer) Resolves(ctx context.Context, server string) error {
	if err := b.valid(); err != nil {
		return err
	}
	host, _ := splitAddress(server)
	if resolveLiteral(host) {
		return nil
	}
	err := b.o.Runtime.Resolves(ctx, host)
	if err == nil || errors.Is(err, errCannotCheck) {
		return err
	}
	return &unresolvableError{err}
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

// Detour implements Membership: in one reload, the server is marked down
// and a line for addr (IP:port) takes its place (see AddDetour), so nginx
// sends the server's requests to addr whatever its name resolves to. Wait
// with WaitDrained for the requests the server had.
func (b *Balancer) Detour(ctx context.Context, server, addr string) (Change, error) {
	return b.change(ctx, Change{Op: OpDetour, Server: server, Addr: addr})
}

// EndDetour implements Membership: in one reload, the line for addr goes
// and the server's down is set to wasDown (the detour's Change.PrevDown),
// after checking that the server's host resolves if it comes back up.
func (b *Balancer) EndDetour(ctx context.Context, server, addr string, wasDown bool) (Change, error) {
	return b.change(ctx, Change{Op: OpEndDetour, Server: server, Addr: addr, PrevDown: wasDown})
}

// Handoff implements Membership: in one edit and one reload, server in is
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
	unlock := lock(b.path, b.o.Runtime.String())
	defer unlock()

	src, err := os.ReadFile(b.path)
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
		cs[i].PrevDown, cs[i].PrevWeight = s.Down, s.Weight
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
		if w.Op == OpRestore || w.Op == OpEndDetour && s.Down && !w.PrevDown {
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

// resolves refuses to put s into rotation when its host does not resolve
// where nginx runs.
func (b *Balancer) resolves(ctx context.Context, s *Server) error {
	if resolveLiteral(s.Host) {
		return nil
	}
	if err := b.o.Runtime.Resolves(ctx, s.Host); err != nil {
		if errors.Is(err, errCannotCheck) {
			return fmt.Errorf("cannot check that %q resolves before putting it back into upstream %q (nothing was changed): %w",
				s.Host, b.o.Upstream, err)
		}
		return &unresolvableError{fmt.Errorf("refusing to put %q back into upstream %q (nothing was changed): %w", s.Address, b.o.Upstream, err)}
	}
	return nil
}

// errCannotCheck is matched by the errors of a Runtime's Resolves that
// could not find out (nginx's container or the engine did not answer), as
// opposed to the answer being no; see cannotCheck.
var errCannotCheck = errors.New("cannot check name resolution")

// cannotCheck marks err as "could not find out" without adding text.
type cannotCheck struct{ err error }

// Error is the cause's message, unchanged.
func (e cannotCheck) Error() string { return e.err.Error() }

// Unwrap matches errCannotCheck and the cause.
func (e cannotCheck) Unwrap() []error { return []error{errCannotCheck, e.err} }

// unresolvableError is a refusal because a host does not resolve: it
// matches ErrUnresolvable without repeating its text.
type unresolvableError struct{ err error }

// Error is the refusal's message, unchanged.
func (e *unresolvableError) Error() string { return e.err.Error() }

// Unwrap matches ErrUnresolvable and the cause.
func (e *unresolvableError) Unwrap() []error {
	return []error{ErrUnresolvable, e.err}
}

// Undo reverts c on the current file: other lines (and even this one) may
// have been changed by other steps since, so it restores the server line's
// exact previous bytes when the line is still as c left it, and otherwise
// applies the semantic inverse (previous down / weight). Then `nginx -t` and
// reload, as for any change. A Noop change, or a line already back in its
// previous state, needs nothing. Works from a Change decoded from the
// journal in a new process.
func (b *Balancer) Undo(ctx context.Context, c Change) error {
	if c.Noop {
		return nil
	}
	if err := b.valid(); err != nil {
		return err
	}
	if c.Backend != "" && c.Backend != BackendReload {
		return fmt.Errorf("nginx: change was made by the %q backend, this is the %q backend", c.Backend, BackendReload)
	}
	switch c.Op {
	case OpMarkDown, OpRestore, OpSetWeight, OpDetour, OpEndDetour:
	default:
		return fmt.Errorf("nginx: cannot undo unknown operation %q", c.Op)
	}
	if c.Upstream != b.o.Upstream {
		return fmt.Errorf("nginx: change is for upstream %q, this balancer edits %q", c.Upstream, b.o.Upstream)
	}
	if c.Config != "" && filepath.Clean(c.Config) != b.path {
		return fmt.Errorf("nginx: change was made to %s, this balancer edits %s", c.Config, b.path)
	}
	unlock := lock(b.path, b.o.Runtime.String())
	defer unlock()

	src, err := os.ReadFile(b.path)
	if err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	_, s, err := locate(b.path, src, b.o.Upstream, c.Server)
	if err != nil {
		return fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	raw := string(src[s.start:s.end])
	var out []byte
	switch {
	case c.Op == OpDetour:
		out, err = endDetour(b.path, src, b.o.Upstream, c.Server, c.Addr, c.PrevDown)
	case c.Op == OpEndDetour:
		out, err = addDetour(b.path, src, b.o.Upstream, c.Server, c.Addr)
	case c.After != "" && raw == c.After && validBefore(c):
		out = splice(src, s.start, s.end, c.Before)
	case c.Before != "" && raw == c.Before:
		out = src
	case c.Op == OpSetWeight:
		out, err = setWeight(b.path, src, b.o.Upstream, c.Server, c.PrevWeight)
	default:
		out, err = setDown(b.path, src, b.o.Upstream, c.Server, c.PrevDown)
	}
	if err != nil {
		return fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	log := b.o.Log.With().Str("op", "undo_"+c.Op).Str("upstream", b.o.Upstream).Str("server", c.Server).Logger()
	if bytes.Equal(out, src) {
		log.Info().Msg("nginx: server line already in its previous state; nothing to undo")
		return nil
	}
	if _, ns, err := locate(b.path, out, b.o.Upstream, c.Server); err == nil && s.Down && !ns.Down {
		if err := b.resolves(ctx, s); err != nil {
			return err
		}
	}
	uc := Change{Backend: BackendReload, Upstream: c.Upstream, Server: c.Server, Op: "undo_" + c.Op, Config: b.path}
	if err := b.commit(ctx, log, src, out, &uc); err != nil {
		return fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	return nil
}

// validBefore checks that a journal's Before text is exactly one `server`
// directive for c.Server, so a tampered journal cannot inject config.
func validBefore(c Change) bool {
	cfg, err := ParseConfig("", []byte(c.Before))
	if err != nil || len(cfg.root) != 1 {
		return false
	}
	d := cfg.root[0]
	return !d.isBlock && len(d.args) >= 2 && d.args[0].val == "server" &&
		d.args[1].val == c.Server && d.args[0].start == 0 && d.end == len(c.Before)
}

// commit writes out, tests, reloads and waits for the new worker generation.
// On any failure it puts orig back (and reloads again if a reload was sent),
// so an error means nothing changed, unless the error says the restore
// failed.
func (b *Balancer) commit(ctx context.Context, log zerolog.Logger, orig, out []byte, c *Change) error {
	rt := b.o.Runtime
	procs, err := rt.Processes(ctx)
	if err != nil {
		return fmt.Errorf("before changing %s: %w (nothing was changed)", b.path, err)
	}
	_, children, ok := masterOf(procs)
	if !ok {
		return fmt.Errorf("before changing %s: %s: no nginx master process found (nothing was changed)", b.path, rt)
	}
	old := make(map[int]bool, len(children))
	c.OldWorkers = c.OldWorkers[:0]
	for _, p := range children {
		old[p.PID] = true
		c.OldWorkers = append(c.OldWorkers, p.PID)
	}

	t := time.Now()
	if err := b.write(out); err != nil {
		return b.restore(log, orig, false, fmt.Errorf("writing %s: %w", b.path, err))
	}
	log.Debug().Str("file", b.path).Dur("took", time.Since(t)).Msg("nginx: config written")

	t = time.Now()
	if hasPassed(b.path, rt.String(), out) {
		log.Debug().Msg("nginx: config identical to one nginx -t passed earlier; not tested again")
	} else {
		if err := rt.Test(ctx); err != nil {
			log.Debug().Dur("took", time.Since(t)).Err(err).Msg("nginx: config test failed")
			return b.restore(log, orig, false, fmt.Errorf("%s rejected the edited %s: %w", rt, b.path, err))
		}
		log.Debug().Dur("took", time.Since(t)).Msg("nginx: config test passed")
		markPassed(b.path, rt.String(), out)
	}

	t = time.Now()
	c.ReloadedAt = t
	if err := rt.Reload(ctx); err != nil {
		return b.restore(log, orig, false, fmt.Errorf("reloading %s: %w", rt, err))
	}
	if err := b.waitGeneration(ctx, old); err != nil {
		return b.restore(log, orig, true, err)
	}
	log.Info().Dur("took", time.Since(t)).Ints("old_workers", c.OldWorkers).Msg("nginx: reloaded, new workers live")
	return nil
}

// restore writes orig back after a failed change (and reloads when the
// failed change had been signalled), and wraps cause with the outcome.
func (b *Balancer) restore(log zerolog.Logger, orig []byte, reloaded bool, cause error) error {
	if err := b.write(orig); err != nil {
		log.Error().Err(err).Msg("nginx: restoring the original config failed")
		return fmt.Errorf("%w; %w: fix %s by hand: %v", cause, ErrRestoreFailed, b.path, err)
	}
	if !reloaded {
		log.Info().Err(cause).Msg("nginx: change failed, config restored")
		return fmt.Errorf("%w; the config was restored", cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.ReloadTimeout)
	defer cancel()
	if err := b.o.Runtime.Reload(ctx); err != nil {
		return fmt.Errorf("%w; the config was restored, but reloading nginx with it failed: %v", cause, err)
	}
	log.Info().Err(cause).Msg("nginx: change failed, config restored and nginx reloaded")
	return fmt.Errorf("%w; the config was restored and nginx reloaded", cause)
}

// waitGeneration polls until the reload has fully taken effect: a live
// worker that is not in old exists (nginx loaded the new config; if it
// rejects the config at load time it keeps the old workers and only logs the
// error), and every old worker is gone or titled "is shutting down". The
// second half matters: nginx starts the new workers before it signals the old
// ones, and until an old worker handles that signal it keeps accepting new
// connections and routing them by the old config (observed with nginx 1.22:
// a request reached a server already marked down).
func (b *Balancer) waitGeneration(ctx context.Context, old map[int]bool) error {
	deadline := time.NewTimer(b.o.ReloadTimeout)
	defer deadline.Stop()
	// Listing is microseconds through /proc; through the engine's top API
	// a call takes longer than a tick, which then paces itself.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var state string
	for {
		procs, err := b.o.Runtime.Processes(ctx)
		if err == nil {
			state = "no new worker generation"
			if _, children, ok := masterOf(procs); ok {
				fresh, stale := false, 0
				for _, p := range children {
					switch {
					case !old[p.PID] && isWorker(p.Cmd):
						fresh = true
					case old[p.PID] && isWorker(p.Cmd):
						stale++
					}
				}
				if fresh && stale == 0 {
					return nil
				}
				if fresh {
					state = fmt.Sprintf("new workers started, but %d old worker(s) still accept connections", stale)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to switch to new workers after the reload: %w", b.o.Runtime, ctx.Err())
		case <-deadline.C:
			msg := fmt.Sprintf("%s: %s within %s of the reload; nginx probably rejected the config at load time (see its error log)",
				b.o.Runtime, state, b.o.ReloadTimeout)
			if err != nil {
				msg += fmt.Sprintf("; last process listing failed: %v", err)
			}
			return fmt.Errorf("%w: %s", ErrReloadUnconfirmed, msg)
		case <-tick.C:
		}
	}
}

// WaitDrained waits until every process of the generation recorded in c
// (c.OldWorkers) has exited: they hold the requests that were in flight when
// the change was made. It polls the processes every 10ms. When timeout (> 0)
// passes first, it returns TimedOut with the remaining processes and no error;
// a cancelled ctx returns ctx's error. A Noop change has nothing to drain.
func (b *Balancer) WaitDrained(ctx context.Context, c Change, timeout time.Duration) (DrainReport, error) {
	start := time.Now()
	from := c.ReloadedAt
	if from.IsZero() || from.After(start) {
		from = start
	}
	if c.Noop || len(c.OldWorkers) == 0 {
		return DrainReport{}, nil
	}
	if b.o.Runtime == nil {
		return DrainReport{}, errors.New("nginx: no runtime (container or host)")
	}
	old := make(map[int]bool, len(c.OldWorkers))
	for _, pid := range c.OldWorkers {
		old[pid] = true
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		deadline = tm.C
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var remaining []Process
	failures := 0
	for {
		procs, err := b.o.Runtime.Processes(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return DrainReport{Took: time.Since(from), Remaining: remaining}, ctx.Err()
		case err != nil && failures < 4:
			// A process listing can fail transiently (the engine's ps
			// racing exiting processes); a drain is long, retry.
			failures++
			b.o.Log.Debug().Err(err).Msg("nginx: listing processes failed, retrying")
		case err != nil:
			return DrainReport{Took: time.Since(from), Remaining: remaining}, fmt.Errorf("waiting for %s to drain: %w", b.o.Runtime, err)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			continue
		}
		failures = 0
		remaining = remaining[:0]
		for _, p := range procs {
			if old[p.PID] {
				remaining = append(remaining, p)
			}
		}
		if len(remaining) == 0 {
			r := DrainReport{Took: time.Since(from)}
			b.o.Log.Info().Str("upstream", c.Upstream).Str("server", c.Server).Dur("took", r.Took).Msg("nginx: old workers drained")
			return r, nil
		}
		select {
		case <-ctx.Done():
			return DrainReport{Took: time.Since(from), Remaining: remaining}, ctx.Err()
		case <-deadline:
			r := DrainReport{Took: time.Since(from), TimedOut: true, Remaining: remaining}
			if cl, ok := b.o.Runtime.(ConnLister); ok {
				pids := make([]int, len(remaining))
				for i, p := range remaining {
					pids[i] = p.PID
				}
				r.Conns, _ = cl.Connections(ctx, pids)
			}
			conns := make([]string, len(r.Conns))
			for i, c := range r.Conns {
				conns[i] = c.String()
			}
			b.o.Log.Warn().Str("upstream", c.Upstream).Str("server", c.Server).Dur("took", r.Took).
				Int("remaining", len(remaining)).Strs("connections", conns).Msg("nginx: old workers still running at the drain timeout (long-lived connections?)")
			return r, nil
		case <-tick.C:
		}
	}
}

// WaitOldWorkers implements Membership: it waits, like WaitDrained, for
// every worker of an earlier generation (titled "is shutting down") to
// exit. It is the drain wait when the Change that marked a server down is
// unknown or was made by a process that died or was interrupted before it
// waited: whichever workers it would have waited for, they are among
// these, and the live workers send the server nothing.
func (b *Balancer) WaitOldWorkers(ctx context.Context, server string, timeout time.Duration) (DrainReport, error) {
	if err := b.valid(); err != nil {
		return DrainReport{}, err
	}
	procs, err := b.o.Runtime.Processes(ctx)
	if err != nil {
		return DrainReport{}, err
	}
	c := Change{Upstream: b.o.Upstream, Server: server, ReloadedAt: time.Now()}
	if _, children, ok := masterOf(procs); ok {
		for _, p := range children {
			if strings.Contains(p.Cmd, "worker process") && !isWorker(p.Cmd) {
				c.OldWorkers = append(c.OldWorkers, p.PID)
			}
		}
	}
	return b.WaitDrained(ctx, c, timeout)
}

// write replaces the file's content: in place for bind-mounted files,
// otherwise atomically through a temp file in the same directory and a
// rename, keeping mode and (when permitted) owner.
func (b *Balancer) write(data []byte) error {
	target := b.path
	if p, err := filepath.EvalSymlinks(target); err == nil {
		target = p // rename onto the file, not over a symlink to it
	}
	if b.o.WriteInPlace {
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".nonstop-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // best effort: needs privileges
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// locks serializes edit+test+reload sequences: steps run in parallel, and
// two edits of one file (or two reloads of one nginx) must not interleave.
var (
	locksMu sync.Mutex
	locks   = map[string]*sync.Mutex{}
)

// lock takes the mutex of the config path, then the one of the runtime
// (always in that order, so there is no deadlock), and returns the unlock.
func lock(path, runtime string) func() {
	get := func(key string) *sync.Mutex {
		locksMu.Lock()
		defer locksMu.Unlock()
		m, ok := locks[key]
		if !ok {
			m = &sync.Mutex{}
			locks[key] = m
		}
		return m
	}
	a, r := get("file:"+path), get("runtime:"+runtime)
	a.Lock()
	r.Lock()
	return func() {
		r.Unlock()
		a.Unlock()
	}
}

// passed remembers, per nginx and config file, the contents that `nginx -t`
// accepted in this process (the preflight's Check, and each commit). A
// restore writes back the exact bytes the preflight tested, and a rollback
// the bytes of an earlier step: testing them again would cost a `docker
// exec` (100-300 ms) and prove nothing new. The included files could have
// changed meanwhile, and then nginx refuses the config at reload: it keeps
// its old workers, waitGeneration sees no new generation, and the change
// is reverted as for any failed reload.
var (
	passedMu sync.Mutex
	passed   = map[string]map[[sha256.Size]byte]bool{}
)

func passedKey(path, runtime string) string { return runtime + "\x00" + path }

// markPassed records that nginx -t accepted data as the content of path.
func markPassed(path, runtime string, data []byte) {
	passedMu.Lock()
	defer passedMu.Unlock()
	k := passedKey(path, runtime)
	if passed[k] == nil {
		passed[k] = map[[sha256.Size]byte]bool{}
	}
	passed[k][sha256.Sum256(data)] = true
}

// hasPassed reports whether markPassed saw exactly data for path.
func hasPassed(path, runtime string, data []byte) bool {
	passedMu.Lock()
	defer passedMu.Unlock()
	return passed[passedKey(path, runtime)][sha256.Sum256(data)]
}
