package dockerx

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestCappedOutput(t *testing.T) {
	c := &capped{max: 10}
	for _, p := range []string{"hello", " wor", "ld and more", "!"} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got, want := c.String(), "hello worl\n[... 11 more bytes cut]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	small := &capped{max: 10}
	small.Write([]byte("ok"))
	if small.String() != "ok" {
		t.Errorf("String() = %q", small.String())
	}
}

func TestStateText(t *testing.T) {
	for _, tt := range []struct {
		st   container.State
		want string
	}{
		{container.State{Status: "running", Running: true}, "running"},
		{container.State{Status: "running", Running: true, Health: &container.Health{Status: "starting"}}, "running (starting)"},
		{container.State{Status: "exited", ExitCode: 1}, "exited (1)"},
		{container.State{Status: "exited", ExitCode: 137, OOMKilled: true}, "exited (137), OOM-killed"},
		{container.State{Status: "restarting", Running: true, Restarting: true, ExitCode: 2}, "restarting (last exit 2)"},
		{container.State{Status: "paused", Running: true, Paused: true}, "paused"},
		{container.State{Status: "created"}, "created"},
		{container.State{Status: "created", Error: "port is already allocated"}, "created: port is already allocated"},
	} {
		if got := stateText(&tt.st); got != tt.want {
			t.Errorf("stateText(%+v) = %q, want %q", tt.st, got, tt.want)
		}
	}
	if !strings.Contains(stateText(&container.State{Status: "dead"}), "dead") {
		t.Error("dead state not named")
	}
}
