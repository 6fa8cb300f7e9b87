// This file tests the batch capability of the reload backend with the
// fake runtime: ChangeMany and UndoMany are one edit and one reload each,
// and UndoMany keeps Undo's rules.
package nginx

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const batchConf = "events {}\nhttp {\n    upstream apps {\n        server app1:3000;\n        server app2:3000 weight=2;\n        server app3:3000;\n        server app4:3000 down;\n    }\n}\n"

func batchSetup(t *testing.T) (*Balancer, *fakeRuntime, string) {
	t.Helper()
	b, rt, path := setup(t, batchConf, false)
	rt.resolves["app3"], rt.resolves["app4"] = true, true
	return b, rt, path
}

// A batch's changes, made and then undone from a journal round trip in a
// new process: one reload each way, and the exact bytes back.
func TestBalancerUndoManyIsOneReload(t *testing.T) {
	ctx := context.Background()
	b, rt, path := batchSetup(t)
	cs, err := b.ChangeMany(ctx, []Change{
		{Op: OpMarkDown, Server: "app1:3000"}, {Op: OpMarkDown, Server: "app2:3000"},
		{Op: OpRestore, Server: "app4:3000"}, {Op: OpMarkDown, Server: "app3:3000"},
	})
	if err != nil || rt.reloads != 1 {
		t.Fatalf("ChangeMany: %v, %d reloads", err, rt.reloads)
	}
	raw, _ := json.Marshal(cs)
	var decoded []Change
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	b2 := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt})
	if err := b2.UndoMany(ctx, decoded); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != batchConf || rt.reloads != 2 {
		t.Fatalf("after UndoMany (%d reloads):\n%s", rt.reloads, got)
	}
	// Undone already: nothing to write, nothing to reload.
	if err := b2.UndoMany(ctx, decoded); err != nil || rt.reloads != 2 {
		t.Fatalf("second UndoMany: %v, %d reloads", err, rt.reloads)
	}
	// Through the package function, as steps call it.
	if _, err := ChangeMany(ctx, b, decoded[:2]); err != nil {
		t.Fatal(err)
	}
	if err := UndoMany(ctx, b, decoded[:2]); err != nil || rt.reloads != 4 || readFile(t, path) != batchConf {
		t.Fatalf("UndoMany: %v, %d reloads", err, rt.reloads)
	}
}

// UndoMany keeps Undo's rules per change: a line edited since by another
// step gets the semantic inverse and keeps the other edit, a tampered
// Before is not spliced in, and a change it cannot undo is reported while
// the others are still undone in the one reload.
func TestBalancerUndoManyRules(t *testing.T) {
	ctx := context.Background()
	b, rt, path := batchSetup(t)
	cs, err := b.ChangeMany(ctx, []Change{{Op: OpMarkDown, Server: "app1:3000"}, {Op: OpMarkDown, Server: "app2:3000"}, {Op: OpMarkDown, Server: "app3:3000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetWeight(ctx, "app2:3000", 5); err != nil { // app2's line changed since
		t.Fatal(err)
	}
	cs[0].Before = "server app1:3000; include /etc/passwd;" // tampered
	bad := Change{Backend: "lua", Upstream: "apps", Server: "app4:3000", Op: OpRestore}
	reloads := rt.reloads
	err = b.UndoMany(ctx, append(cs, bad))
	if err == nil || !strings.Contains(err.Error(), `"lua" backend`) {
		t.Errorf("UndoMany with another backend's change: %v", err)
	}
	want := strings.Replace(batchConf, "app2:3000 weight=2;", "app2:3000 weight=5;", 1)
	if got := readFile(t, path); got != want || rt.reloads != reloads+1 {
		t.Fatalf("after UndoMany (%d reloads):\n%s", rt.reloads-reloads, got)
	}
}

// A server whose host no longer resolves is left down with its error; the
// rest of the batch is still put back.
func TestBalancerUndoManyUnresolvable(t *testing.T) {
	ctx := context.Background()
	b, rt, path := batchSetup(t)
	cs, err := b.ChangeMany(ctx, []Change{{Op: OpMarkDown, Server: "app1:3000"}, {Op: OpMarkDown, Server: "app3:3000"}})
	if err != nil {
		t.Fatal(err)
	}
	rt.resolves["app3"] = false
	reloads := rt.reloads
	if err := b.UndoMany(ctx, cs); err == nil || !strings.Contains(err.Error(), "app3") {
		t.Errorf("UndoMany: %v, want app3's resolution error", err)
	}
	want := strings.Replace(batchConf, "server app3:3000;", "server app3:3000 down;", 1)
	if got := readFile(t, path); got != want || rt.reloads != reloads+1 {
		t.Fatalf("after UndoMany (%d reloads):\n%s", rt.reloads-reloads, got)
	}
}
