package nginx

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBalancerMembers(t *testing.T) {
	conf := strings.Replace(testConf, "server app1:3000;", "server app1:3000 down;\n        server app3:3000 backup;", 1)
	b, _, _ := setup(t, conf, false)
	got, err := b.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{{Address: "app1:3000", Down: true}, {Address: "app3:3000", Backup: true}, {Address: "app2:3000", Weight: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %+v, want %+v", got, want)
	}
}

// The hook sees the exact change before anything is written, and its error
// aborts the change with the file and nginx untouched.
func TestBalancerBeforeChange(t *testing.T) {
	b, rt, path := setup(t, testConf, true)
	var seen Change
	ctx := WithBeforeChange(context.Background(), func(c Change) error {
		seen = c
		if readFile(t, path) != testConf {
			t.Error("the hook ran after the file was written")
		}
		return errors.New("journal full")
	})
	_, err := b.MarkDown(ctx, "app2:3000")
	if err == nil || !strings.Contains(err.Error(), "journal full") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("MarkDown with a failing hook = %v", err)
	}
	if seen.Op != OpMarkDown || seen.Before != "server app2:3000 weight=2;" || seen.After != "server app2:3000 weight=2 down;" {
		t.Fatalf("hook saw %+v", seen)
	}
	if readFile(t, path) != testConf || rt.reloads != 0 {
		t.Fatalf("file or nginx changed: reloads %d", rt.reloads)
	}
	// Undo works from the hook's Change alone, whether or not the change
	// went through.
	c, err := b.MarkDown(WithBeforeChange(context.Background(), func(c Change) error { seen = c; return nil }), "app2:3000")
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	if err := b.Undo(context.Background(), seen); err != nil || readFile(t, path) != testConf {
		t.Fatalf("Undo from the hook's change: %v\n%s", err, readFile(t, path))
	}
}

func TestBalancerRefreshAndResolves(t *testing.T) {
	b, rt, path := setup(t, testConf, false)
	ctx := context.Background()
	if err := b.Refresh(ctx); err != nil || rt.reloads != 1 || readFile(t, path) != testConf {
		t.Fatalf("Refresh = %v, reloads %d", err, rt.reloads)
	}
	if err := b.Resolves(ctx, "app2:3000"); err != nil {
		t.Fatal(err)
	}
	if err := b.Resolves(ctx, "10.0.0.1:80"); err != nil {
		t.Fatalf("an IP literal needs no resolution: %v", err)
	}
	if err := b.Resolves(ctx, "gone:3000"); !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("Resolves(gone) = %v", err)
	}
	rt.testErr = func([]byte) error { return &TestError{Output: "host not found"} }
	if err := b.Refresh(ctx); err == nil || rt.reloads != 1 {
		t.Fatalf("Refresh with a failing nginx -t = %v, reloads %d", err, rt.reloads)
	}
}
