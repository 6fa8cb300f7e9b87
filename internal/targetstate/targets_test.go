package targetstate

// This file tests the target locks kept beside the plans' state folders:
// two plans (two state folders on one nginx) that change the same
// container exclude each other there, wait for each other, and take over
// a target lock whose holder was killed; locks are gone after Release.

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestTargetLocks(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	web, api := New(cli, name, "/var/lib/nonstop/web"), New(cli, name, "/var/lib/nonstop/api")

	a, _, err := web.Lock(ctx, lockInfo("a1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.LockTargets(ctx, []string{"nginx config /etc/nginx/nginx.conf", "container app1"}, lockInfo("a1"), 0); err != nil {
		t.Fatal(err)
	}
	b, _, err := api.Lock(ctx, lockInfo("b1"), 0, false)
	if err != nil {
		t.Fatalf("another plan's lock: %v", err)
	}
	defer func() { _ = b.Release(ctx) }()
	err = b.LockTargets(ctx, []string{"container app1"}, lockInfo("b1"), 0)
	var le *executor.LockError
	if !errors.As(err, &le) || le.Target != "container app1" || le.Holder.ID != "a1" || le.Stale {
		t.Fatalf("a target another plan holds: %v, want a LockError naming container app1 and a1", err)
	}
	if err := b.LockTargets(ctx, []string{"container app2"}, lockInfo("b1"), 0); err != nil {
		t.Fatalf("a target nobody holds: %v", err)
	}

	// B waits for A's release.
	released := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // orders the events; nothing is timed
		released <- a.Release(context.Background())
	}()
	if err := b.LockTargets(ctx, []string{"container app1"}, lockInfo("b1"), time.Minute); err != nil {
		t.Fatalf("waiting for A's target: %v", err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if h, err := web.readHolder(ctx, targetFile("nginx config /etc/nginx/nginx.conf")); err != nil || h.found {
		t.Errorf("A's target lock after its release: found=%v, %v", h.found, err)
	}

	// A killed holder's target lock is taken over at once.
	helper := startHelper(t, name, "/var/lib/nonstop/web", "k1", "container:app3")
	if err := b.LockTargets(ctx, []string{"container:app3"}, lockInfo("b1"), 0); err == nil {
		t.Fatal("a target a live helper holds was taken")
	}
	_ = helper.Process.Signal(syscall.SIGKILL)
	_ = helper.Wait()
	eventually(t, 30*time.Second, "the killed holder's target lock taken over", func() bool {
		return b.LockTargets(ctx, []string{"container:app3"}, lockInfo("b1"), 0) == nil
	})
	h, err := web.readHolder(ctx, targetFile("container:app3"))
	if err != nil || !h.found || h.info.ID != "b1" || !h.alive {
		t.Errorf("container:app3's lock: %+v, %v; want b1's, alive", h, err)
	}
}
