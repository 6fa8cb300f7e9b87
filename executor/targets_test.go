package executor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Two holders of one target: the second is refused, naming the target and
// the holder, and gets nothing locked; with a wait, it gets the lock once
// the first releases it. Disjoint targets do not conflict.
func TestLockTargets(t *testing.T) {
	dir := t.TempDir()
	a, err := LockTargets(context.Background(), dir, []string{"nginx config /x/nginx.conf", "container app2"}, LockInfo{ID: "one", PID: 11, Host: "h", Plan: "/a/plan.hcl"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockTargets(context.Background(), dir, []string{"container app1", "nginx config /x/nginx.conf"}, LockInfo{ID: "two"}, 0)
	var le *LockError
	if !errors.As(err, &le) || le.Target != "nginx config /x/nginx.conf" || le.Holder.ID != "one" ||
		!strings.Contains(err.Error(), "nginx config /x/nginx.conf is being changed by apply one (pid 11 on h") || !strings.Contains(err.Error(), "/a/plan.hcl") {
		t.Fatalf("second holder: %v", err)
	}
	// Nothing of the refused attempt stays locked.
	c, err := LockTargets(context.Background(), dir, []string{"container app1"}, LockInfo{ID: "three"}, 0)
	if err != nil {
		t.Fatalf("container app1 stayed locked: %v", err)
	}
	c.Release()
	released := make(chan struct{})
	go func() {
		<-released
		a.Release()
	}()
	close(released)
	b, err := LockTargets(context.Background(), dir, []string{"nginx config /x/nginx.conf"}, LockInfo{ID: "four"}, time.Minute)
	if err != nil {
		t.Fatalf("waiting for the release: %v", err)
	}
	b.Release()
}

// Cancelling the context ends a wait for a held target at once, whatever
// the timeout.
func TestLockTargetsWaitHonoursCancellation(t *testing.T) {
	dir := t.TempDir()
	a, err := LockTargets(context.Background(), dir, []string{"container x"}, LockInfo{ID: "one"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LockTargets(ctx, dir, []string{"container x"}, LockInfo{ID: "two"}, time.Hour); err == nil || !strings.Contains(err.Error(), "stopped waiting") {
		t.Fatalf("err %v", err)
	}
	// The state folder's lock, the same.
	state := t.TempDir()
	l, err := Acquire(state, LockInfo{ID: "one"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := AcquireWait(ctx, state, LockInfo{ID: "two"}, time.Hour); err == nil || !strings.Contains(err.Error(), "stopped waiting") {
		t.Fatalf("state lock: err %v", err)
	}
}
