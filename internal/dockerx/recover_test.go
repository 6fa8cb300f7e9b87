package dockerx

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// waitEngine adds ContainerWait to the fake: a stopped container has
// stopped; a running one "times out" at once (nobody is stopping it).
type waitEngine struct{ *fakeEngine }

func (f waitEngine) ContainerWait(ctx context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	ok, errc := make(chan container.WaitResponse, 1), make(chan error, 1)
	c, err := f.ContainerInspect(ctx, id)
	switch {
	case err != nil:
		errc <- err
	case c.State.Running:
		errc <- context.DeadlineExceeded
	default:
		ok <- container.WaitResponse{}
	}
	return ok, errc
}

// A Replace whose process dies at any point after its checkpoint is undone
// by Recover from the checkpoint alone: the original container is back,
// running, under its name, and nothing else is left.
func TestRecoverAfterDeathAtEveryPoint(t *testing.T) {
	for _, cut := range []string{"rename", "create", "stop", "start", "never"} {
		t.Run("dies at "+cut, func(t *testing.T) {
			f := newFakeEngine()
			old := f.add("app", nil)
			var cp Replacement
			s := spec
			s.Checkpoint = func(r Replacement) error { cp = r; return nil }
			f.hook = func(ctx context.Context, call string) error {
				if call == cut {
					runtime.Goexit() // the process dies here: no cleanup runs
				}
				return nil
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = Replace(context.Background(), f, old, s)
			}()
			<-done
			f.hook = nil
			if cp.OldID != old.ID || cp.Name != "app" || !cp.OldRunning || cp.NewID != "" {
				t.Fatalf("checkpoint %+v", cp)
			}
			for i := range 2 { // twice: Recover is idempotent
				if err := Recover(context.Background(), waitEngine{f}, cp); err != nil {
					t.Fatalf("Recover #%d: %v", i+1, err)
				}
				if got := f.state(); got != "app=running" {
					t.Fatalf("after Recover #%d: %q, want only the original app, running", i+1, got)
				}
				if c, _ := f.ContainerInspect(context.Background(), "app"); c.ID != old.ID {
					t.Fatalf("app is %s, want the original %s", c.ID, old.ID)
				}
			}
		})
	}
}

// A checkpoint that cannot be recorded stops Replace before any change.
func TestReplaceCheckpointErrorChangesNothing(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	s := spec
	s.Checkpoint = func(Replacement) error { return errors.New("disk full") }
	if _, err := Replace(context.Background(), f, old, s); err == nil {
		t.Fatal("Replace succeeded without its checkpoint")
	}
	if got := f.state(); got != "app=running" {
		t.Fatalf("state %q", got)
	}
}

func TestCurrent(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	ctx := context.Background()
	// composeOld runs sha256:oldimage; hello:v2 is another image.
	if ok, why, err := Current(ctx, f, old, spec); err != nil || ok || why == "" {
		t.Fatalf("Current(other image) = %v %q %v", ok, why, err)
	}
	r, err := Replace(ctx, f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := f.ContainerInspect(ctx, r.NewID)
	nc.Image = f.images["hello:v2"].ID
	if ok, why, err := Current(ctx, f, nc, spec); err != nil || !ok {
		t.Fatalf("Current(just replaced) = %v %q %v", ok, why, err)
	}
	other := Spec{Image: spec.Image, Env: map[string]string{"MESSAGE": "secret-value"}}
	ok, why, err := Current(ctx, f, nc, other)
	if err != nil || ok || why != "its environment differs in MESSAGE" {
		t.Fatalf("Current(other env) = %v %q %v", ok, why, err)
	}
}
