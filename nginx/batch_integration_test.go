package nginx

// This file tests the batch capability on a real nginx (on the host): a
// batch of changes is one reload, counted from nginx's own error log, and
// so is its undo, which gives back the config byte for byte.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// reconfigurations counts the reloads nginx logged ("signal 1 (SIGHUP)
// received ..., reconfiguring", at notice level; the test nginx logs info).
func (h *hostNginx) reconfigurations(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, "error.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "(SIGHUP) received")
}

func TestBatchHostNginxIntegration(t *testing.T) {
	bin := testenv.NginxBinary(t)
	ctx := context.Background()
	a := newBackend(t, "A", make(chan string, 1), 0)
	bb := newBackend(t, "B", make(chan string, 1), 0)
	c := newBackend(t, "C", make(chan string, 1), 0)
	h := startHostNginx(t, bin, a.addr(), bb.addr(), c.addr())
	rt := HostRuntime(h.pidFile, bin, h.conf)
	bal := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt, Log: testLogger(t)})
	waitWorkers(t, rt, 2)
	if seen := hits(t, h.url, 30); len(seen) != 3 {
		t.Fatalf("before: %v", seen)
	}
	reloads := h.reconfigurations(t)

	cs, err := ChangeMany(ctx, bal, []Change{{Op: OpMarkDown, Server: a.addr()}, {Op: OpMarkDown, Server: bb.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if n := h.reconfigurations(t) - reloads; n != 1 {
		t.Errorf("ChangeMany of 2 servers: nginx reloaded %d times, want 1", n)
	}
	if seen := hits(t, h.url, 20); len(seen) != 1 || seen["C"] != 20 {
		t.Errorf("after taking A and B out, nginx answers %v; want only C", seen)
	}
	for _, ch := range cs {
		if _, err := bal.WaitDrained(ctx, ch, 0); err != nil {
			t.Fatal(err)
		}
	}

	if err := UndoMany(ctx, bal, cs); err != nil {
		t.Fatal(err)
	}
	if n := h.reconfigurations(t) - reloads; n != 2 {
		t.Errorf("UndoMany of 2 changes: nginx reloaded %d times in all, want 2", n)
	}
	if got := h.read(t); !bytes.Equal(got, h.orig) {
		t.Errorf("config after UndoMany differs from the original:\n%s", got)
	}
	if seen := hits(t, h.url, 30); len(seen) != 3 {
		t.Errorf("after UndoMany nginx answers %v; want A, B and C", seen)
	}
}
