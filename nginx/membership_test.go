package nginx

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// plain hides a Balancer's capabilities: a Membership as a reload-free
// backend would be, with only the interface's methods.
type plain struct{ Membership }

// Without Handoffer, Handoff is Restore then MarkDown (two reloads here),
// with the same result; without Detourer, a detour is refused with nothing
// changed; without Refresher, Refresh does nothing.
func TestCapabilityFallbacks(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, true)
	rt.drain()
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	m := plain{b}
	reloads := rt.reloads
	in, out, err := Handoff(ctx, m, "app1:3000", "app2:3000")
	if err != nil {
		t.Fatal(err)
	}
	want := "events {}\nhttp {\n    upstream apps {\n        server app1:3000;\n        server app2:3000 weight=2 down;\n    }\n}\n"
	if got := readFile(t, path); got != want || rt.reloads != reloads+2 || in.Op != OpRestore || out.Op != OpMarkDown {
		t.Fatalf("fallback hand-off (%d reloads, want %d): %+v %+v\n%s", rt.reloads, reloads+2, in, out, got)
	}
	// The mark-down fails (no such server): the restore is undone, so an
	// error still means nothing changed.
	if err := b.Undo(ctx, out); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	if _, _, err := Handoff(ctx, m, "app1:3000", "nope:3000"); !errors.Is(err, ErrNoServer) {
		t.Fatalf("hand-off to an unknown server: %v", err)
	}
	if got := readFile(t, path); got != before {
		t.Fatalf("failed fallback hand-off left:\n%s\nwant\n%s", got, before)
	}
	if _, _, err := Handoff(ctx, m, "app1:3000", "app1:3000"); err == nil {
		t.Fatal("hand-off of a server to itself accepted")
	}

	reloads = rt.reloads
	if _, err := Detour(ctx, m, "app2:3000", "10.0.0.9:3000"); !errors.Is(err, errors.ErrUnsupported) || readFile(t, path) != before {
		t.Fatalf("Detour without Detourer = %v", err)
	}
	if _, err := Undetour(ctx, m, "app2:3000", "10.0.0.9:3000", false); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Undetour without Detourer = %v", err)
	}
	if err := Refresh(ctx, m); err != nil || rt.reloads != reloads {
		t.Fatalf("Refresh without Refresher = %v, %d reloads", err, rt.reloads-reloads)
	}
	// With the capabilities, the functions use them.
	if err := Refresh(ctx, b); err != nil || rt.reloads != reloads+1 {
		t.Fatalf("Refresh = %v, %d reloads", err, rt.reloads-reloads)
	}
	ch, err := Detour(ctx, b, "app2:3000", "10.0.0.9:3000")
	if err != nil || ch.Op != OpDetour || !strings.Contains(readFile(t, path), "10.0.0.9:3000") {
		t.Fatalf("Detour = %+v, %v", ch, err)
	}
	if _, err := Undetour(ctx, b, "app2:3000", "10.0.0.9:3000", ch.PrevDown); err != nil || readFile(t, path) != before {
		t.Fatalf("Undetour = %v:\n%s", err, readFile(t, path))
	}
}

// Balancers that share nothing do not serialize each other, and a
// Balancer's state is in values, not in the package: two Shared values
// remember different nginx -t results.
func TestSharedIsPerValue(t *testing.T) {
	a, b := NewShared(), NewShared()
	a.markPassed("/x", "rt", []byte("conf"))
	if !a.hasPassed("/x", "rt", []byte("conf")) || b.hasPassed("/x", "rt", []byte("conf")) {
		t.Fatal("nginx -t record leaked between Shared values")
	}
	unlock := a.lock("/x", "rt")
	done := make(chan struct{})
	go func() { b.lock("/x", "rt")(); close(done) }()
	<-done // would hang if b's lock were a's
	unlock()
}
