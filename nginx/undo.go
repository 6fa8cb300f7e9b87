// This file holds Undo for the reload backend: reverting a Change, also
// one read back from a journal by another process, on a file that other
// steps may have edited since.

package nginx

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
)

// Undo reverts c on the current file: other lines (and even this one) may
// have been changed by other steps since, so it restores the server line's
// exact previous bytes when the line is still as c left it, and otherwise
// applies the semantic inverse (previous down / weight / backup). Then `nginx -t` and
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
	if err := b.undoable(c); err != nil {
		return err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
	defer unlock()

	src, err := b.read(ctx)
	if err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	out, up, err := b.undoEdit(src, c)
	if err != nil {
		return err
	}
	log := b.o.Log.With().Str("op", "undo_"+c.Op).Str("upstream", b.o.Upstream).Str("server", c.Server).Logger()
	if bytes.Equal(out, src) {
		log.Info().Msg("nginx: server line already in its previous state; nothing to undo")
		return nil
	}
	if up != nil {
		if err := b.resolves(ctx, up); err != nil {
			return err
		}
	}
	uc := Change{Backend: BackendReload, Upstream: c.Upstream, Server: c.Server, Op: "undo_" + c.Op, Config: b.path}
	if err := b.commit(ctx, log, src, out, &uc); err != nil {
		return fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	return nil
}

// undoable refuses a Change this balancer cannot undo: made by another
// backend, to another upstream or file, or of an unknown operation.
func (b *Balancer) undoable(c Change) error {
	if c.Backend != "" && c.Backend != BackendReload {
		return fmt.Errorf("nginx: change was made by the %q backend, this is the %q backend", c.Backend, BackendReload)
	}
	switch c.Op {
	case OpMarkDown, OpRestore, OpSetWeight, OpDetour, OpEndDetour, OpSetBackup, OpUnsetBackup:
	default:
		return fmt.Errorf("nginx: cannot undo unknown operation %q", c.Op)
	}
	if c.Upstream != b.o.Upstream {
		return fmt.Errorf("nginx: change is for upstream %q, this balancer edits %q", c.Upstream, b.o.Upstream)
	}
	if c.Config != "" && filepath.Clean(c.Config) != b.path {
		return fmt.Errorf("nginx: change was made to %s, this balancer edits %s", c.Config, b.path)
	}
	return nil
}

// undoEdit returns src with c reverted by Undo's rules, and the server
// line (as it is in src) when the revert puts a down server back up: its
// host must resolve before nginx is reloaded. out equals src when the
// line is already in its previous state.
func (b *Balancer) undoEdit(src []byte, c Change) (out []byte, up *Server, err error) {
	_, s, err := locate(b.path, src, b.o.Upstream, c.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	raw := string(src[s.start:s.end])
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
	case c.Op == OpSetBackup || c.Op == OpUnsetBackup:
		out, err = setBackup(b.path, src, b.o.Upstream, c.Server, c.PrevBackup)
	default:
		out, err = setDown(b.path, src, b.o.Upstream, c.Server, c.PrevDown)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("undoing %s of %q: %w", c.Op, c.Server, err)
	}
	// A line that comes back into rotation (no longer down, or no longer
	// backup while up) must resolve.
	if _, ns, err := locate(b.path, out, b.o.Upstream, c.Server); err == nil && !ns.Down && (s.Down || isBackup(s) && !isBackup(ns)) {
		up = s
	}
	return out, up, nil
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
