// This file holds the locks of what a plan changes (an nginx config, a
// container), kept beside the plans' state folders in the nginx
// container: `targets/` in the folder above the plan's (by default
// /var/lib/nonstop/targets), so two different plans whose state is on the
// same nginx, run from two runners, do not change the same things at
// once. They are the shared counterpart of executor.LockTargets, taken
// through the plan lock's session and released with it; a target lock
// whose holder's session is gone is taken over at once, as a flock dies
// with its process: the dead holder's unfinished apply is guarded by its
// own plan's lock, not by these.
package targetstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
)

// targetHolder is what a target's lock holds after the session's PID.
type targetHolder struct {
	executor.LockInfo
	Target string `json:"target"`
}

// targetsDir is the folder of the target locks, beside the state folder.
func (s *Store) targetsDir() string { return path.Join(path.Dir(s.dir), "targets") }

// targetFile is a target's lock, relative to the state folder (where the
// session runs): a hash, so any target name makes a safe file name.
func targetFile(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "../targets/" + hex.EncodeToString(sum[:12]) + ".lock"
}

// heldTarget is a target lock this session took: its file and line.
type heldTarget struct{ file, line string }

// LockTargets implements executor.SharedLock: each target, in sorted
// order (so two plans never wait for each other in a circle), is locked
// with the same exclusive create as the plan's lock. A live holder is
// waited for up to wait, then reported with its holder; what was taken
// stays held until Release.
func (l *sharedLock) LockTargets(ctx context.Context, targets []string, info executor.LockInfo, wait time.Duration) error {
	if len(targets) == 0 {
		return nil
	}
	st := l.ss.st
	if err := st.ensureDir(ctx, st.targetsDir()); err != nil {
		return err
	}
	targets = slices.Clone(targets)
	slices.Sort(targets)
	targets = slices.Compact(targets)
	deadline := time.Now().Add(wait)
	for _, t := range targets {
		if err := l.lockTarget(ctx, t, info, wait, deadline); err != nil {
			return err
		}
	}
	return nil
}

// lockTarget takes one target's lock.
func (l *sharedLock) lockTarget(ctx context.Context, target string, info executor.LockInfo, wait time.Duration, deadline time.Time) error {
	st := l.ss.st
	b, err := json.Marshal(targetHolder{LockInfo: info, Target: target})
	if err != nil {
		return err
	}
	js, file := string(b), targetFile(target)
	take := func(req string) (bool, error) {
		reply, diag, err := l.ss.roundTrip(ctx, req)
		switch {
		case err != nil:
			return false, err
		case reply == "ok":
			l.mu.Lock()
			l.targets = append(l.targets, heldTarget{file: file, line: strconv.Itoa(l.ss.pid) + " " + js})
			l.mu.Unlock()
			return true, nil
		case reply == "held":
			return false, nil
		}
		return false, fmt.Errorf("%s: locking %s: %s", st, target, diag)
	}
	for {
		if ok, err := take("lock\n" + file + "\n" + js + "\n"); ok || err != nil {
			return err
		}
		h, err := st.readHolder(ctx, file)
		if err != nil {
			return err
		}
		if !h.found {
			continue // released between the two reads
		}
		if !h.alive {
			if ok, err := take("takeover\n" + file + "\n" + h.raw + "\n" + js + "\n"); ok || err != nil {
				return err
			}
			continue // another runner was first: look again
		}
		if wait <= 0 || !time.Now().Before(deadline) {
			return &executor.LockError{Holder: h.info, Target: target, Waited: wait}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for the lock of %s in %s: %w", target, st, context.Cause(ctx))
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}

// unlockTargets removes the target locks this session took, before the
// session ends; when it cannot, they are left to the next taker, who sees
// the session gone and takes them over.
func (l *sharedLock) unlockTargets(ctx context.Context) {
	l.mu.Lock()
	held := l.targets
	l.targets = nil
	l.mu.Unlock()
	for _, t := range held {
		if _, _, err := l.ss.roundTrip(ctx, "unlock\n"+t.file+"\n"+t.line+"\n"); err != nil {
			return
		}
	}
}
