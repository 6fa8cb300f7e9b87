// This file holds the reload-free backend's waits: until the Lua side uses
// a membership version (its ack), and until a peer taken out of rotation
// has no request in flight (the per-peer counters of the ack), bounded by
// the drain timeout.

package nginx

import (
	"context"
	"fmt"
	"net"
	"time"
)

// waitAck waits until the ack file reports version (every worker uses it).
func (d *Dynamic) waitAck(ctx context.Context, dir string, version int) error {
	deadline := time.Now().Add(d.o.AckTimeout)
	last := -1
	for {
		a, err := d.readAck(ctx, ackPath(dir, d.o.Upstream))
		if err != nil {
			return err
		}
		if a != nil {
			if a.Version == version {
				return nil
			}
			last = a.Version
		}
		if time.Now().After(deadline) {
			seen := "no ack file"
			if last >= 0 {
				seen = fmt.Sprintf("it still acks version %d", last)
			}
			return fmt.Errorf("%s: version %d of %s not acknowledged within %s (%s): %w; check that nginx runs and its error log (\"nonstop:\")",
				d.o.Runtime, version, statePath(dir, d.o.Upstream), d.o.AckTimeout, seen, ErrNotApplied)
		}
		if err := sleepCtx(ctx, d.o.Poll); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WaitDrained implements Membership: for a mark-down (or a detour, whose
// server is marked down: its old address), until the Lua side
// uses a membership where the server is down and counts no request in
// flight on it. Other changes have nothing to drain.
func (d *Dynamic) WaitDrained(ctx context.Context, c Change, timeout time.Duration) (DrainReport, error) {
	if c.Noop || (c.Op != OpMarkDown && c.Op != OpDetour) {
		return DrainReport{}, nil
	}
	start := c.ReloadedAt
	if start.IsZero() {
		start = time.Now()
	}
	return d.waitIdle(ctx, c.Server, start, timeout)
}

// WaitIdle implements Membership: WaitDrained for a server already out of
// rotation.
func (d *Dynamic) WaitIdle(ctx context.Context, server string, timeout time.Duration) (DrainReport, error) {
	return d.waitIdle(ctx, server, time.Now(), timeout)
}

func (d *Dynamic) waitIdle(ctx context.Context, server string, start time.Time, timeout time.Duration) (DrainReport, error) {
	if err := d.valid(); err != nil {
		return DrainReport{}, err
	}
	dir, err := d.stateDir(ctx)
	if err != nil {
		return DrainReport{}, err
	}
	deadline := start.Add(timeout)
	inflight := -1
	// st is the state of the version last read; read again only when the
	// ack is for another one (each read through the engine is a request).
	var st *state
	for {
		a, err := d.readAck(ctx, ackPath(dir, d.o.Upstream))
		if err != nil {
			return DrainReport{}, err
		}
		if st == nil || a == nil || a.Version != st.Version {
			if st, err = d.readState(ctx, statePath(dir, d.o.Upstream)); err != nil {
				return DrainReport{}, err
			}
			if st == nil {
				// Never changed by this backend: nginx balances over the
				// server lines, where a down server gets nothing.
				return DrainReport{Took: time.Since(start)}, nil
			}
		}
		if a != nil && a.Version == st.Version {
			if p := st.peer(server); p == nil || !p.Down {
				// Back in rotation (or gone) meanwhile: nothing to drain.
				return DrainReport{Took: time.Since(start)}, nil
			}
			// "*": requests placed before the first state, peer unknown.
			inflight = a.InFlight[server] + a.InFlight["*"]
			if inflight <= 0 {
				return DrainReport{Took: time.Since(start)}, nil
			}
		}
		if time.Now().After(deadline) {
			d.o.Log.Warn().Str("upstream", d.o.Upstream).Str("server", server).Int("in_flight", inflight).Msg("nginx: drain timeout")
			return DrainReport{Took: time.Since(start), TimedOut: true, InFlight: max(inflight, 0)}, nil
		}
		if err := sleepCtx(ctx, d.o.Poll); err != nil {
			return DrainReport{}, err
		}
	}
}

// Resolves implements Membership: the server's host has an address now.
func (d *Dynamic) Resolves(ctx context.Context, server string) error {
	if err := d.valid(); err != nil {
		return err
	}
	host, _ := splitAddress(server)
	if net.ParseIP(host) != nil {
		return nil
	}
	if _, err := d.resolve(ctx, host); err != nil {
		return &unresolvableError{fmt.Errorf("%q does not resolve: %w", host, err)}
	}
	return nil
}
