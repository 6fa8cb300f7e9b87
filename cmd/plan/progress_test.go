package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/executor"
)

// The live display redraws in place: every frame moves the cursor back up
// over the previous one, and the last frame shows each step's final state.
func TestLiveProgressRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveProgress(&buf, []string{"step.drain.a", "step.deploy.a"}, 100)
	now := time.Now()
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.drain.a", Status: executor.Running, Time: now})
	l.Event(executor.Event{Type: executor.EventNote, Step: "step.drain.a", Message: "drained a:3000 in 12ms"})
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.drain.a", Status: executor.Done, Elapsed: 1.5})
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.deploy.a", Status: executor.Failed, Elapsed: 2, Message: "boom"})
	l.Event(executor.Event{Type: executor.EventRollback, Message: "rolling back 1 completed steps"})
	l.Close()
	out := buf.String()
	frames := strings.Split(out, "\x1b[2A")
	if len(frames) < 3 {
		t.Fatalf("want redraws moving the cursor up 2 lines, got %q", out)
	}
	last := out[strings.LastIndex(out, "\x1b[3A"):]
	for _, want := range []string{"✓ step.drain.a", "done", "1.5s", "drained a:3000 in 12ms", "✗ step.deploy.a", "failed", "boom", "rollback: rolling back 1 completed steps"} {
		if !strings.Contains(last, want) {
			t.Errorf("last frame lacks %q:\n%s", want, last)
		}
	}
}

func TestLiveProgressDrawsNothingWithoutEvents(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveProgress(&buf, []string{"step.drain.a"}, 100)
	l.Close()
	if buf.Len() != 0 {
		t.Fatalf("drew %q before any step ran (it would overwrite the confirmation prompt)", buf.String())
	}
}

func TestClipKeepsLinesUnderTheWidth(t *testing.T) {
	if got := clip(strings.Repeat("x", 200), 80); len([]rune(got)) != 79 {
		t.Fatalf("clip to 80 gave %d runes", len([]rune(got)))
	}
}

// Rollback's display learns its steps from the events (the journal, not
// the plan, says which): each appears on its first event, in that order.
func TestLiveProgressAddsStepsAsTheyCome(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveProgress(&buf, nil, 100)
	l.Event(executor.Event{Type: executor.EventRollback, Message: "rolling back 2 steps of apply x"})
	l.Event(executor.Event{Type: executor.EventNote, Step: "step.deploy.a", Message: "a is the old container again"})
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.deploy.a", Status: executor.RolledBack})
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.drain.a", Status: executor.RollbackFailed, Message: "boom"})
	l.Close()
	out := buf.String()
	last := out[strings.LastIndex(out, "\x1b[3A"):]
	d, r := strings.Index(last, "↺ step.deploy.a"), strings.Index(last, "! step.drain.a")
	if d < 0 || r < d || !strings.Contains(last, "a is the old container again") || !strings.Contains(last, "boom") {
		t.Fatalf("last frame:\n%s", last)
	}
}

// A warning is printed once, whole (not clipped to the width), above the
// redrawn steps, so no later frame overwrites it.
func TestLiveProgressKeepsWarnings(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveProgress(&buf, []string{"step.drain.a"}, 40)
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.drain.a", Status: executor.Running, Time: time.Now()})
	long := "the plan's state is on no mount: " + strings.Repeat("x", 60) + " Mount a volume at /var/lib/nonstop"
	l.Event(executor.Event{Type: executor.EventWarning, Message: long})
	l.Event(executor.Event{Type: executor.EventStep, Step: "step.drain.a", Status: executor.Done, Elapsed: 1})
	l.Close()
	out := buf.String()
	if strings.Count(out, "warning: "+long+"\n") != 1 {
		t.Errorf("the warning is not printed exactly once, whole:\n%q", out)
	}
	after := out[strings.Index(out, long)+len(long):]
	if strings.Contains(after, "\x1b[2A") || !strings.Contains(after, "✓ step.drain.a") {
		t.Errorf("a frame after the warning moves above it, or the steps are not redrawn below it:\n%q", after)
	}
}
