// This file holds the reload backend's test-and-reload: commit (write,
// `nginx -t`, SIGHUP, wait for the new worker generation), revert (put the
// previous bytes back after a failed change) and Refresh (a reload that
// changes nothing), with the checks that nginx reads what was written.

package nginx

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Refresh implements Refresher: `nginx -t`, reload, and wait for the new
// worker generation, writing nothing.
func (b *Balancer) Refresh(ctx context.Context) error {
	if err := b.valid(); err != nil {
		return err
	}
	unlock := b.shared.lock(b.path, b.o.Runtime.String())
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

// commit writes out, tests, reloads and waits for the new worker generation.
// On any failure it puts orig back (and reloads again if a reload was sent),
// so an error means nothing changed, unless the error says the revert
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
		return b.revert(log, orig, false, fmt.Errorf("writing %s: %w", b.path, err))
	}
	log.Debug().Str("file", b.path).Dur("took", time.Since(t)).Msg("nginx: config written")
	// nginx must read what was written, or the reload would change
	// nothing it runs (a copy of the config, a bind mount of a replaced
	// file).
	if err := b.confirmSeen(ctx, out); err != nil {
		return b.revert(log, orig, false, err)
	}

	t = time.Now()
	if b.shared.hasPassed(b.path, rt.String(), out) {
		log.Debug().Msg("nginx: config identical to one nginx -t passed earlier; not tested again")
	} else {
		if err := rt.Test(ctx); err != nil {
			log.Debug().Dur("took", time.Since(t)).Err(err).Msg("nginx: config test failed")
			return b.revert(log, orig, false, fmt.Errorf("%s rejected the edited %s: %w", rt, b.path, err))
		}
		log.Debug().Dur("took", time.Since(t)).Msg("nginx: config test passed")
		b.shared.markPassed(b.path, rt.String(), out)
	}

	t = time.Now()
	c.ReloadedAt = t
	if err := rt.Reload(ctx); err != nil {
		return b.revert(log, orig, false, fmt.Errorf("reloading %s: %w", rt, err))
	}
	if err := b.waitGeneration(ctx, old); err != nil {
		return b.revert(log, orig, true, err)
	}
	// The new workers run what nginx read at the reload: still the edit?
	if err := b.confirmSeen(ctx, out); err != nil {
		return b.revert(log, orig, true, fmt.Errorf("%w: %w", ErrReloadUnconfirmed, err))
	}
	log.Info().Dur("took", time.Since(t)).Ints("old_workers", c.OldWorkers).Msg("nginx: reloaded, new workers live")
	return nil
}

// revert writes orig back after a failed change (and reloads when the
// failed change had been signalled), and wraps cause with the outcome.
func (b *Balancer) revert(log zerolog.Logger, orig []byte, reloaded bool, cause error) error {
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

// confirmSeen checks that the nginx runtime reads out in the file the
// Balancer edits: through the container's mounts, as its processes see it.
func (b *Balancer) confirmSeen(ctx context.Context, out []byte) error {
	name, seen, err := b.o.Runtime.Seen(ctx, b.path)
	if err != nil {
		return fmt.Errorf("cannot confirm that %s reads the edited %s: %w", b.o.Runtime, b.path, err)
	}
	if !bytes.Equal(seen, out) {
		return &notLoaded{fmt.Sprintf("%s reads %s (%d bytes), not what was written to %s (%d bytes): it runs another file (a bind mount of a file replaced since the container started? restart the container)",
			b.o.Runtime, name, len(seen), b.path, len(out))}
	}
	return nil
}
