// This file holds the batch capability: several membership changes of one
// upstream made as one (the reload backend: one edit, one `nginx -t`, one
// reload), and undone as one. A rollout batch's drains, its restores fused
// with the next batch's drains, and a blue/green cut-over (the idle colour
// in, the live colour out) go through ChangeMany, so the number of reloads
// is the number of moments traffic moves, not the number of servers.

package nginx

import (
	"context"
	"errors"
	"fmt"
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

// UndoMany implements Batcher. For now it undoes one change at a time, in
// reverse order (one reload each).
// TODO(batch): one edit and one reload for the whole batch.
func (b *Balancer) UndoMany(ctx context.Context, cs []Change) error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := b.Undo(ctx, cs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
