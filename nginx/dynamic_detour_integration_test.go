// This file tests the reload-free backend's detour (dynamic_detour.go)
// against a real host nginx with the Lua module: traffic moves to the
// detour's address under keep-alive load with no failed request and no
// reload, the drain waits for the old address's requests only, and the
// undo of a detour decoded from JSON puts the old address back.
package nginx

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/load"
)

// holdServer answers its name; a request to /hold waits for release.
func holdServer(t *testing.T, name string, entered chan<- string, release <-chan struct{}) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered <- name
			<-release
		}
		fmt.Fprint(w, name)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// TestDynamicDetourUnderKeepAliveLoad: a single server detoured to another
// address and back (EndDetour, then Undo of a detour read back from JSON)
// under keep-alive POST load: each step moves every request, none fails,
// nginx neither reloads nor sees its config change.
func TestDynamicDetourUnderKeepAliveLoad(t *testing.T) {
	entered := make(chan string, 16)
	old := newBackend(t, "old", entered, 0)
	next := newBackend(t, "new", entered, 0)
	n := startDynamicNginx(t, true, 0o777, old.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	waitWorkers(t, n.runtime(), 2)
	workers := workerPIDs(t, n.runtime())
	o := load.NewOptions(n.url + "/")
	o.Method, o.Body, o.Workers, o.MaxDuration = http.MethodPost, []byte("payload"), 8, time.Minute
	run, err := load.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	only := func(when, want string) {
		t.Helper()
		if seen := hits(t, n.url, 10); seen[want] != 10 {
			t.Fatalf("%s: want all 10 requests on %s, got %v", when, want, seen)
		}
	}
	only("before the detour", "old")
	for round := range 3 {
		// What a journal's write-ahead hook records is what Detour returns.
		var hooked Change
		hctx := WithBeforeChange(ctx, func(c Change) error { hooked = c; return nil })
		ch, err := d.Detour(hctx, old.addr(), next.addr())
		if err != nil || ch.Noop || ch.Op != OpDetour || ch.Addr != next.addr() || ch.Backend != BackendDynamic {
			t.Fatalf("round %d: Detour: %+v, %v", round, ch, err)
		}
		if hooked.Addr != ch.Addr || hooked.PrevAddr != ch.PrevAddr || hooked.Op != OpDetour {
			t.Fatalf("round %d: the write-ahead hook saw %+v, Detour returned %+v", round, hooked, ch)
		}
		only("detoured", "new")
		if rep, err := d.WaitDrained(ctx, ch, 10*time.Second); err != nil || rep.TimedOut {
			t.Fatalf("round %d: drain of the old address: %+v, %v", round, rep, err)
		}
		if ms, err := d.Members(ctx); err != nil || len(ms) != 2 || !ms[0].Down || ms[1].Address != next.addr() || ms[1].Down {
			t.Fatalf("round %d: Members while detoured: %+v, %v", round, ms, err)
		}
		if round%2 == 0 {
			end, err := d.EndDetour(ctx, old.addr(), next.addr(), false)
			if err != nil || end.Noop || end.Addr != next.addr() {
				t.Fatalf("round %d: EndDetour: %+v, %v", round, end, err)
			}
		} else {
			// Undo from a journal: the Change the write-ahead hook saw, as
			// JSON, decoded anew.
			raw, err := json.Marshal(hooked)
			if err != nil {
				t.Fatal(err)
			}
			var back Change
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if back.PrevAddr != old.addr() {
				t.Fatalf("round %d: the detour's Change records the old address %q, want %q", round, back.PrevAddr, old.addr())
			}
			if err := d.Undo(ctx, back); err != nil {
				t.Fatalf("round %d: Undo: %v", round, err)
			}
		}
		only("detour ended", "old")
		if ms, err := d.Members(ctx); err != nil || len(ms) != 1 || ms[0].Down {
			t.Fatalf("round %d: Members after the detour: %+v, %v", round, ms, err)
		}
	}
	if again, err := d.EndDetour(ctx, old.addr(), next.addr(), false); err != nil || !again.Noop {
		t.Fatalf("EndDetour with no detour: want a Noop, got %+v, %v", again, err)
	}
	rep := run.Stop()
	if rep.Requests < 100 || rep.Non2xx != 0 || rep.TransportErrors != 0 {
		t.Fatalf("under load: %d requests, %d non-2xx, %d transport errors (%s)", rep.Requests, rep.Non2xx, rep.TransportErrors, rep.Kinds())
	}
	t.Logf("%d keep-alive POSTs, 0 failed, over 3 detours and their ends", rep.Requests)
	n.assertUntouched(t, workers)
}

// TestDynamicDetourDrainsOldAddressOnly: the Lua side counts in-flight
// requests per peer name; after a detour the server's count is its old
// address's requests only, so the drain waits for the request on the old
// address and not for one on the new address.
func TestDynamicDetourDrainsOldAddressOnly(t *testing.T) {
	entered := make(chan string, 4)
	releaseOld, releaseNew := make(chan struct{}), make(chan struct{})
	oldAddr := holdServer(t, "old", entered, releaseOld)
	newAddr := holdServer(t, "new", entered, releaseNew)
	n := startDynamicNginx(t, true, 0o777, oldAddr)
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	// A first state, so that the request below is counted on its peer.
	if _, err := d.SetWeight(ctx, oldAddr, 2); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 2)
	get := func() {
		resp, err := httpClient.Get(n.url + "/hold")
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- fmt.Sprint(resp.StatusCode)
	}
	go get()
	if got := <-entered; got != "old" {
		t.Fatalf("first request went to %s", got)
	}
	ch, err := d.Detour(ctx, oldAddr, newAddr)
	if err != nil {
		t.Fatal(err)
	}
	go get()
	if got := <-entered; got != "new" {
		t.Fatalf("request after the detour went to %s, want new", got)
	}
	rep, err := d.WaitDrained(ctx, ch, 300*time.Millisecond)
	if err != nil || !rep.TimedOut || rep.InFlight != 1 {
		t.Fatalf("drain with the old address's request held: want a timeout with 1 in flight (not the new address's), got %+v, %v", rep, err)
	}
	close(releaseOld)
	if got := <-done; got != "200" {
		t.Fatalf("the old address's request: %s", got)
	}
	rep, err = d.WaitDrained(ctx, ch, 30*time.Second)
	if err != nil || rep.TimedOut {
		t.Fatalf("drain once the old address's request is done (the new one's still held): %+v, %v", rep, err)
	}
	close(releaseNew)
	if got := <-done; got != "200" {
		t.Fatalf("the new address's request: %s", got)
	}
}
