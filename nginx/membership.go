// This file holds the membership contract: the Membership interface every
// backend implements (reload or reload-free), the values it trades in
// (Member, Change, DrainReport), the operation names stored in journals, the
// errors callers match, the write-ahead hook (WithBeforeChange), and the
// optional capabilities only some backends have (Handoffer, Detourer,
// Refresher) with the functions that ask for them.

package nginx

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Membership is what steps need from a load balancer: take a server out of
// rotation, put it back, shift weight, undo any of that from a journal, and
// know when the requests that were in flight before a change are done. It
// says nothing about reloads: the reload backend (Balancer) implements it,
// and so does the reload-free backend (Dynamic: a Lua balancer), which
// changes membership at runtime and drains by per-peer in-flight counters.
// Steps hold a Membership, never a concrete backend; what only some
// backends can do is an optional capability (Handoffer, Detourer,
// Refresher, Batcher), reached through the functions of the same name.
type Membership interface {
	// Check is the preflight: the upstream and every listed server exist,
	// the config the backend edits is the one nginx runs, and nginx
	// accepts it. It changes nothing and reports every problem at once.
	Check(ctx context.Context, servers []string) error
	// Members lists the upstream's servers as they are now, without
	// changing anything: what preflight and "is there anything to do?"
	// look at.
	Members(ctx context.Context) ([]Member, error)
	// MarkDown takes a server out of rotation; wait with WaitDrained for
	// the requests it still has.
	MarkDown(ctx context.Context, server string) (Change, error)
	// Restore puts a server back into rotation, after checking that its
	// host resolves where nginx runs.
	Restore(ctx context.Context, server string) (Change, error)
	// SetWeight sets a server's weight (0: nginx's default).
	SetWeight(ctx context.Context, server string, weight int) (Change, error)
	// Undo reverts a Change, also one decoded from a journal written by
	// another process.
	Undo(ctx context.Context, c Change) error
	// WaitDrained waits until the requests that were in flight when c was
	// made have finished, bounded by timeout (a timeout is reported, not
	// an error).
	WaitDrained(ctx context.Context, c Change, timeout time.Duration) (DrainReport, error)
	// WaitIdle is WaitDrained for a server that is already out of
	// rotation when the Change that took it out is unknown (a crashed or
	// interrupted apply): it waits for every request that may still be
	// on its way to it.
	WaitIdle(ctx context.Context, server string, timeout time.Duration) (DrainReport, error)
	// Resolves says whether a server's host resolves where nginx runs; the
	// error wraps ErrUnresolvable when the answer is no.
	Resolves(ctx context.Context, server string) error
}

// Handoffer is a Membership that can restore one server and take another
// out in a single step (see Handoff).
type Handoffer interface {
	Handoff(ctx context.Context, in, out string) (inChange, outChange Change, err error)
}

// Detourer is a Membership that can send a server's requests to another
// address (IP:port) in one step, and stop that: what moves a single
// replica between two containers that answer to the same name (start-first
// deploys).
type Detourer interface {
	Detour(ctx context.Context, server, addr string) (Change, error)
	EndDetour(ctx context.Context, server, addr string, wasDown bool) (Change, error)
}

// Refresher is a Membership whose nginx must be told to take up the world
// as it is now (resolve every upstream host again) without a membership
// change: the reload backend reloads.
type Refresher interface {
	Refresh(ctx context.Context) error
}

var (
	_ Membership = (*Balancer)(nil)
	_ Handoffer  = (*Balancer)(nil)
	_ Detourer   = (*Balancer)(nil)
	_ Refresher  = (*Balancer)(nil)
)

// Handoff restores in and marks out down: a rolling update's "restore
// this one, drain the next one". A Handoffer does it in one step (the reload
// backend: one edit, one reload instead of two). Any other Membership does
// Restore then MarkDown, and undoes the restore when the mark-down fails,
// so that an error still means nothing changed (unless it wraps
// ErrRestoreFailed). Wait with WaitDrained(outChange) for out's requests.
func Handoff(ctx context.Context, m Membership, in, out string) (inChange, outChange Change, err error) {
	if h, ok := m.(Handoffer); ok {
		return h.Handoff(ctx, in, out)
	}
	if in == out {
		return Change{}, Change{}, fmt.Errorf("nginx: hand-off from %q to itself", in)
	}
	inChange, err = m.Restore(ctx, in)
	if err != nil {
		return inChange, Change{}, err
	}
	outChange, err = m.MarkDown(ctx, out)
	if err != nil && !errors.Is(err, ErrRestoreFailed) {
		if uerr := m.Undo(context.WithoutCancel(ctx), inChange); uerr != nil {
			return inChange, outChange, fmt.Errorf("%w; and taking %s out again failed: %w: %v", err, in, ErrRestoreFailed, uerr)
		}
	}
	return inChange, outChange, err
}

// Detour sends server's requests to addr through m's Detourer; a
// Membership without that capability is refused (errors.ErrUnsupported),
// changing nothing.
func Detour(ctx context.Context, m Membership, server, addr string) (Change, error) {
	d, ok := m.(Detourer)
	if !ok {
		return Change{}, fmt.Errorf("nginx: %T cannot detour %s to %s: %w", m, server, addr, errors.ErrUnsupported)
	}
	return d.Detour(ctx, server, addr)
}

// Undetour ends a Detour through m's Detourer (its EndDetour; wasDown is
// the detour's Change.PrevDown). The name differs because EndDetour is the
// text edit (edit.go).
func Undetour(ctx context.Context, m Membership, server, addr string, wasDown bool) (Change, error) {
	d, ok := m.(Detourer)
	if !ok {
		return Change{}, fmt.Errorf("nginx: %T cannot end a detour of %s to %s: %w", m, server, addr, errors.ErrUnsupported)
	}
	return d.EndDetour(ctx, server, addr, wasDown)
}

// Refresh makes m's nginx take up the world as it is now, where m needs
// that (Refresher); for any other Membership there is nothing to do.
func Refresh(ctx context.Context, m Membership) error {
	if r, ok := m.(Refresher); ok {
		return r.Refresh(ctx)
	}
	return nil
}

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
// journal replayed by another backend (Dynamic, BackendDynamic) is refused
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
	// OpSetBackup adds the `backup` parameter to a server line and
	// OpUnsetBackup removes it: a blue/green with idle = "backup" swaps
	// them between its colours in one batch (see SetBackup).
	OpSetBackup   = "set_backup"
	OpUnsetBackup = "unset_backup"
)

// ErrReloadUnconfirmed is wrapped when nginx accepted the signal but no new
// worker generation appeared within Options.ReloadTimeout: nginx most likely
// rejected the config at load time (its error log says why), so the new
// membership is not live. It is also wrapped, with ErrNotLoaded, when the
// new workers came up but nginx no longer reads the edit (the file changed
// under it). The edit has been reverted when this is returned.
var ErrReloadUnconfirmed = errors.New("reload not confirmed")

// ErrUnresolvable is wrapped when Restore (or an Undo that puts a server
// back) refuses because the server's host does not resolve where nginx runs:
// nginx would refuse the whole config, and the server is not there to take
// traffic anyway.
var ErrUnresolvable = errors.New("server host does not resolve")

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
	// OpEndDetour, OpSetBackup, OpUnsetBackup.
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
	// PrevBackup is whether the server line had `backup` before the
	// change: the semantic inverse of OpSetBackup / OpUnsetBackup.
	PrevBackup bool `json:"prev_backup,omitempty"`
	// PrevAddr is, for the reload-free backend (Dynamic), the address the
	// server's peer had before the change: what the undo of a detour puts
	// back (the name may resolve to two containers by then).
	PrevAddr string `json:"prev_addr,omitempty"`
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
	// InFlight is, for the reload-free backend (Dynamic), the requests the
	// drained server still had at the timeout, as its Lua balancer counts
	// them.
	InFlight int `json:"in_flight,omitempty"`
}
