// This file holds the batch capability: several membership changes of one
// upstream made as one (the reload backend: one edit, one `nginx -t`, one
// reload), and undone as one. A rollout batch's drains, its restores fused
// with the next batch's drains, and a blue/green cut-over (the idle colour
// in, the live colour out) go through ChangeMany, so the number of reloads
// is the number of moments traffic moves, not the number of servers.

package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Batcher is a Membership that makes several changes together: they take
// effect at the same moment, or none does.
type Batcher interface {
	// ChangeMany makes wants (each with Op, Server and the op's own
	// fields: Weight, Addr) as one change. On error, nothing changed
	// unless the error wraps ErrRestoreFailed; the returned Changes say
	// what each want was (undo them all to be sure).
	ChangeMany(ctx context.Context, wants []Change) ([]Change, error)
	// UndoMany reverts cs (from ChangeMany, or decoded from a journal) as
	// one change.
	UndoMany(ctx context.Context, cs []Change) error
}

// ChangeMany makes wants through m: in one step when m is a Batcher,
// otherwise one after the other, undoing the ones made when a later one
// fails (so that an error still means nothing changed, unless it wraps
// ErrRestoreFailed). The returned slice has one Change per want.
func ChangeMany(ctx context.Context, m Membership, wants []Change) ([]Change, error) {
	if b, ok := m.(Batcher); ok {
		return b.ChangeMany(ctx, wants)
	}
	cs := make([]Change, len(wants))
	for i, w := range wants {
		var err error
		switch w.Op {
		case OpMarkDown:
			cs[i], err = m.MarkDown(ctx, w.Server)
		case OpRestore:
			cs[i], err = m.Restore(ctx, w.Server)
		case OpSetWeight:
			cs[i], err = m.SetWeight(ctx, w.Server, w.Weight)
		default:
			err = fmt.Errorf("nginx: %T cannot make %q in a batch: %w", m, w.Op, errors.ErrUnsupported)
		}
		if err != nil {
			if errors.Is(err, ErrRestoreFailed) {
				return cs, err
			}
			if uerr := UndoMany(context.WithoutCancel(ctx), m, cs[:i]); uerr != nil {
				return cs, fmt.Errorf("%w; and undoing the batch's earlier changes failed: %w: %v", err, ErrRestoreFailed, uerr)
			}
			return cs, err
		}
	}
	return cs, nil
}

// UndoMany reverts cs through m: in one step when m is a Batcher,
// otherwise one by one in reverse order, going on past failures and
// returning them all.
func UndoMany(ctx context.Context, m Membership, cs []Change) error {
	if b, ok := m.(Batcher); ok {
		return b.UndoMany(ctx, cs)
	}
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := m.Undo(ctx, cs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ Batcher = (*Balancer)(nil)

// ChangeMany implements Batcher: the edits one after the other on the
// file's bytes, then one `nginx -t` and one reload.
func (b *Balancer) ChangeMany(ctx context.Context, wants []Change) ([]Change, error) {
	if len(wants) == 0 {
		return nil, nil
	}
	return b.changes(ctx, wants)
}

// UndoMany implements Batcher: every change reverted by Undo's rules (the
// line's exact previous bytes when it is still as the change left it,
// otherwise the semantic inverse), in reverse order, on the file's bytes,
// then one `nginx -t` and one reload. A change it cannot revert (another
// backend's, a server line that is gone, a host that does not resolve
// where nginx runs) is left out with its error and the others are still
// reverted: a rollback goes as far as it can. Noops and lines already in
// their previous state need nothing; when all do, nothing is reloaded.
func (b *Balancer) UndoMany(ctx context.Context, cs []Change) error {
	if len(cs) == 0 {
		return nil
	}
	if err := b.valid(); err != nil {
		return err
	}
	var errs []error
	todo := make([]Change, 0, len(cs))
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Noop {
			continue
		}
		if err := b.undoable(cs[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		todo = append(todo, cs[i])
	}
	if len(todo) == 0 {
		return errors.Join(errs...)
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
	defer unlock()
	src, err := b.read(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("nginx config: %w", err))...)
	}
	// Left out changes are skipped and the edit made again from src, so
	// that what is reloaded holds exactly the changes that can be reverted.
	skip := map[int]bool{}
	resolved := map[string]error{}
	for {
		cur, ok := src, true
		var ops, servers []string
		for k, c := range todo {
			if skip[k] {
				continue
			}
			out, up, err := b.undoEdit(cur, c)
			if err == nil && up != nil {
				if _, seen := resolved[up.Host]; !seen {
					resolved[up.Host] = b.resolves(ctx, up)
				}
				err = resolved[up.Host]
			}
			if err != nil {
				errs = append(errs, err)
				skip[k], ok = true, false
				break
			}
			if !bytes.Equal(out, cur) {
				ops, servers = append(ops, "undo_"+c.Op), append(servers, c.Server)
			}
			cur = out
		}
		if !ok {
			continue
		}
		if bytes.Equal(cur, src) {
			return errors.Join(errs...)
		}
		log := b.o.Log.With().Str("op", strings.Join(ops, "+")).Str("upstream", b.o.Upstream).Str("server", strings.Join(servers, "+")).Logger()
		uc := Change{Backend: BackendReload, Upstream: b.o.Upstream, Op: "undo_many", Config: b.path}
		if err := b.commit(ctx, log, src, cur, &uc); err != nil {
			errs = append(errs, fmt.Errorf("undoing %s: %w", strings.Join(servers, ", "), err))
		}
		return errors.Join(errs...)
	}
}
