// This file holds drain detection for the reload backend: the requests in
// flight at a change are on the worker generation that the reload retired,
// so a drain is over when those processes have exited.

package nginx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

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

// WaitIdle implements Membership: it waits, like WaitDrained, for
// every worker of an earlier generation (titled "is shutting down") to
// exit. It is the drain wait when the Change that marked a server down is
// unknown or was made by a process that died or was interrupted before it
// waited: whichever workers it would have waited for, they are among
// these, and the live workers send the server nothing.
func (b *Balancer) WaitIdle(ctx context.Context, server string, timeout time.Duration) (DrainReport, error) {
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
