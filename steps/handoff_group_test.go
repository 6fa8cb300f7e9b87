// This file tests the group hand-off's decisions and its use of the
// Membership with a fake batcher; the real reload count is measured
// against nginx in internal/e2e/batch_test.go.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// batcher is a Membership that records ChangeMany and WaitDrained calls.
type batcher struct {
	nginx.Membership
	mu      sync.Mutex
	batches [][]nginx.Change
	waited  []string
	undone  [][]nginx.Change
	fail    error
}

func (b *batcher) ChangeMany(ctx context.Context, wants []nginx.Change) ([]nginx.Change, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, wants)
	cs := make([]nginx.Change, len(wants))
	for i, w := range wants {
		cs[i] = nginx.Change{Op: w.Op, Server: w.Server, Upstream: "app", OldWorkers: []int{7}}
	}
	return cs, b.fail
}

func (b *batcher) UndoMany(ctx context.Context, cs []nginx.Change) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.undone = append(b.undone, cs)
	return nil
}

func (b *batcher) WaitDrained(ctx context.Context, c nginx.Change, timeout time.Duration) (nginx.DrainReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waited = append(b.waited, c.Server)
	return nginx.DrainReport{}, nil
}

func groupFixture(b *batcher) (drain, restore func(server, upstream string) *Task) {
	env := NewEnv(zerolog.Nop(), Builtin())
	lb := func(upstream string) *dsl.Nginx {
		n := &dsl.Nginx{Name: "lb", Config: dsl.String{Value: "/etc/nginx/app.conf"}, Upstream: dsl.String{Value: upstream},
			DrainTimeout: dsl.Duration{Value: time.Second}}
		env.lbs[nginxTarget(n)] = b
		return n
	}
	drain = func(server, upstream string) *Task {
		return &Task{Env: env, Type: "drain", Spec: &DrainSpec{Nginx: lb(upstream), Server: dsl.String{Value: server}, DrainTimeout: dsl.Duration{Value: time.Second}}}
	}
	restore = func(server, upstream string) *Task {
		return &Task{Env: env, Type: "restore", Spec: &RestoreSpec{Nginx: lb(upstream), Server: dsl.String{Value: server}}}
	}
	return drain, restore
}

// Which steps a drain or a restore takes into its group.
func TestGroupJoins(t *testing.T) {
	drain, restore := groupFixture(&batcher{})
	skipped := drain("a:80", "app")
	skipped.Skip = "up to date"
	for _, tc := range []struct {
		name  string
		t, o  *Task
		next  bool
		joins bool
	}{
		{"restores of a batch", restore("a:80", "app"), restore("b:80", "app"), false, true},
		{"drains of a batch", drain("a:80", "app"), drain("b:80", "app"), false, true},
		{"restore then the next drain", restore("a:80", "app"), drain("b:80", "app"), true, true},
		{"drain then a restore", drain("a:80", "app"), restore("b:80", "app"), true, false},
		{"a drain is no peer of a restore", restore("a:80", "app"), drain("b:80", "app"), false, false},
		{"another upstream", drain("a:80", "app"), drain("b:80", "other"), false, false},
		{"a skipped step", drain("a:80", "app"), skipped, false, false},
	} {
		if got := tc.t.Joins(tc.o, tc.next); got != tc.joins {
			t.Errorf("%s: joins %v, want %v", tc.name, got, tc.joins)
		}
	}
	if restore("a:80", "app").FuseGroup([]executor.Task{restore("a:80", "app")}, []executor.Task{drain("a:80", "app")}) != nil {
		t.Error("a group changing one server twice was accepted")
	}
}

// A batch's restores and the next batch's drains are one ChangeMany;
// restores are done first, every drain waits for its change, and each
// step gets its own record.
func TestGroupIsOneChange(t *testing.T) {
	b := &batcher{}
	drain, restore := groupFixture(b)
	first := []executor.Task{restore("a:80", "app"), restore("b:80", "app")}
	next := []executor.Task{drain("c:80", "app"), drain("d:80", "app")}
	ga := first[0].(*Task).FuseGroup(first, next)
	if ga == nil {
		t.Fatal("no group")
	}
	var order []int
	recs := make([]executor.Record, 4)
	notes := make([]func(string), 4)
	for k := range notes {
		notes[k] = func(string) {}
	}
	ga(context.Background(), notes, func(k int, rec executor.Record, err error) {
		if err != nil {
			t.Errorf("member %d: %v", k, err)
		}
		order, recs[k] = append(order, k), rec
	})
	if len(b.batches) != 1 || len(b.batches[0]) != 4 {
		t.Fatalf("ChangeMany calls %v, want one of 4 changes", b.batches)
	}
	ops := []string{nginx.OpRestore, nginx.OpRestore, nginx.OpMarkDown, nginx.OpMarkDown}
	for k, c := range b.batches[0] {
		if c.Op != ops[k] {
			t.Errorf("change %d: %s, want %s", k, c.Op, ops[k])
		}
	}
	if !slices.Equal(order, []int{0, 1, 2, 3}) || !slices.Equal(b.waited, []string{"c:80", "d:80"}) {
		t.Errorf("done order %v, waited for %v", order, b.waited)
	}
	for k, srv := range []string{"a:80", "b:80", "c:80", "d:80"} {
		var r struct{ Change nginx.Change }
		if err := json.Unmarshal(recs[k], &r); err != nil || r.Change.Server != srv {
			t.Errorf("member %d: record %s (%v)", k, recs[k], err)
		}
	}
}

// When the one change fails, every step fails, saying nothing changed.
func TestGroupFailureFailsEveryStep(t *testing.T) {
	b := &batcher{fail: errors.New("nginx -t: emerg")}
	drain, _ := groupFixture(b)
	first := []executor.Task{drain("a:80", "app"), drain("b:80", "app")}
	ga := first[0].(*Task).FuseGroup(first, nil)
	n := 0
	ga(context.Background(), []func(string){func(string) {}, func(string) {}}, func(k int, rec executor.Record, err error) {
		n++
		if err == nil || rec != nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("member %d: rec %s, err %v", k, rec, err)
		}
	})
	if n != 2 || len(b.waited) != 0 {
		t.Errorf("%d outcomes, waited for %v", n, b.waited)
	}
}

// A batch's drains are undone as one UndoMany, its restores as one
// ChangeMany of mark-downs, each then waiting for its requests; steps of
// different kinds or the same server never join.
func TestGroupUndo(t *testing.T) {
	b := &batcher{}
	drain, restore := groupFixture(b)
	target := NginxTarget{Config: "/etc/nginx/app.conf", Upstream: "app"}
	drec := func(srv string) executor.Record {
		return mustJSON(drainRecord{Nginx: target, Change: nginx.Change{Op: nginx.OpMarkDown, Server: srv, Upstream: "app"}})
	}
	rrec := func(srv string) executor.Record {
		return mustJSON(restoreRecord{Nginx: target, Change: nginx.Change{Op: nginx.OpRestore, Server: srv, Upstream: "app"}, DrainTimeout: "1s"})
	}
	d1, d2, r1 := drain("a:80", "app"), drain("b:80", "app"), restore("c:80", "app")
	if !d1.JoinsUndo(drec("a:80"), d2, drec("b:80")) || d1.JoinsUndo(drec("a:80"), r1, rrec("c:80")) || d1.JoinsUndo(drec("a:80"), d2, drec("a:80")) {
		t.Error("JoinsUndo")
	}
	notes := []func(string){func(string) {}, func(string) {}}
	if errs := d1.UndoGroup(context.Background(), []executor.Undoer{d1, d2}, []executor.Record{drec("a:80"), drec("b:80")}, notes); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if len(b.undone) != 1 || len(b.undone[0]) != 2 || len(b.batches) != 0 {
		t.Fatalf("drains: UndoMany calls %v, ChangeMany calls %v", b.undone, b.batches)
	}
	r2 := restore("d:80", "app")
	if errs := r1.UndoGroup(context.Background(), []executor.Undoer{r1, r2}, []executor.Record{rrec("c:80"), rrec("d:80")}, notes); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if len(b.batches) != 1 || len(b.batches[0]) != 2 || b.batches[0][0].Op != nginx.OpMarkDown || !slices.Equal(b.waited, []string{"c:80", "d:80"}) {
		t.Fatalf("restores: ChangeMany calls %v, waited %v", b.batches, b.waited)
	}
}
