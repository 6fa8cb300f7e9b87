// This file holds the lock of what a plan changes: an nginx config, a
// container. The state folder's lock (lock.go) stops two applies of one
// plan; these stop two plans (in two folders, two checkouts, two CI jobs on
// one machine) that change the same things. Each target is a file in a
// folder every user of the machine shares, locked with flock, holding its
// holder's LockInfo while locked.
package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// DefaultTargetLockDir is the machine-wide folder of target locks:
// /run/lock/nonstop where /run/lock (the system's folder for lock files)
// is writable, else /tmp/nonstop-locks. Not $TMPDIR: two CI jobs on one
// machine often get two, and must still see each other's locks.
func DefaultTargetLockDir() string {
	if fi, err := os.Stat("/run/lock"); err == nil && fi.IsDir() && syscall.Access("/run/lock", 2 /* W_OK */) == nil {
		return "/run/lock/nonstop"
	}
	return "/tmp/nonstop-locks"
}

// TargetLocks are the held locks of a plan's targets.
type TargetLocks struct{ files []*os.File }

// targetHolder is what a target's lock file holds while locked.
type targetHolder struct {
	LockInfo
	Target string `json:"target"`
}

// LockTargets locks every target (named for people: "nginx config
// /etc/nginx/conf.d/apps.conf", "container app2"), in a stable order so
// two plans never wait for each other in a circle. A target held by
// another process is waited for up to wait, then reported with its holder;
// nothing stays locked then. Cancelling ctx ends the wait.
func LockTargets(ctx context.Context, dir string, targets []string, info LockInfo, wait time.Duration) (*TargetLocks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the lock folder %s: %w", dir, err)
	}
	// Shared by every user of the machine; sticky, as /tmp is.
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm() != 0o777 && isOwner(fi) {
		_ = os.Chmod(dir, 0o777|os.ModeSticky)
	}
	targets = slices.Clone(targets)
	slices.Sort(targets)
	targets = slices.Compact(targets)
	deadline := time.Now().Add(wait)
	l := &TargetLocks{}
	for _, t := range targets {
		f, err := lockTarget(ctx, dir, t, info, deadline, wait)
		if err != nil {
			l.Release()
			return nil, err
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

func lockTarget(ctx context.Context, dir, target string, info LockInfo, deadline time.Time, wait time.Duration) (*os.File, error) {
	sum := sha256.Sum256([]byte(target))
	path := filepath.Join(dir, hex.EncodeToString(sum[:12])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrPermission) {
		f, err = os.Open(path) // another user's file: lockable, not writable
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", target, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("locking %s: %w", target, err)
		}
		if time.Now().After(deadline) {
			var h targetHolder
			b, _ := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
			_ = json.Unmarshal(b, &h)
			_ = f.Close()
			return nil, &LockError{Holder: h.LockInfo, Target: target, Waited: wait}
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("stopped waiting for the lock of %s: %w", target, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	b, _ := json.Marshal(targetHolder{LockInfo: info, Target: target})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return f, nil
}

// Release unlocks every target.
func (l *TargetLocks) Release() {
	if l == nil {
		return
	}
	for _, f := range l.files {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
	l.files = nil
}

func isOwner(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
