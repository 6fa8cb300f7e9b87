package dockerx

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func sortStrings(s []string) { slices.Sort(s) }

var spec = Spec{Image: "hello:v2", Env: map[string]string{"MESSAGE": "b"}}

func TestReplaceHappyPathOrder(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	r, err := Replace(context.Background(), f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.state(), r.BackupName+"=stopped app=running"; got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
	if r.Name != "app" || r.OldID != old.ID || r.NewID == "" || !r.OldRunning {
		t.Errorf("replacement = %+v", r)
	}
	// Old keeps serving until the new container exists and is attached.
	var mut []string
	for _, c := range f.calls {
		if c != "inspect" && c != "image" {
			mut = append(mut, c)
		}
	}
	if want := []string{"rename", "create", "connect", "connect", "stop", "start"}; !slices.Equal(mut, want) {
		t.Errorf("calls = %v, want %v", mut, want)
	}
	f.mu.Lock()
	labels := f.containers[r.NewID].cfg.Labels
	f.mu.Unlock()
	if labels[ReplacesLabel] != old.ID {
		t.Errorf("new container's %s label = %q, want the old ID", ReplacesLabel, labels[ReplacesLabel])
	}
}

// Each failure midway leaves the engine as it was: old under its name and
// running, nothing else.
func TestReplaceFailureUndoes(t *testing.T) {
	for _, step := range []string{"create", "connect", "stop", "start"} {
		t.Run(step, func(t *testing.T) {
			f := newFakeEngine()
			old := f.add("app", nil)
			failed := false
			f.hook = func(_ context.Context, call string) error {
				if call == step && !failed {
					failed = true
					return errors.New("boom")
				}
				return nil
			}
			r, err := Replace(context.Background(), f, old, spec)
			if err == nil {
				t.Fatal("Replace succeeded")
			}
			if r != (Replacement{}) {
				t.Errorf("replacement after an undone failure = %+v, want zero", r)
			}
			for _, want := range []string{"boom", "undone", "running again"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := f.state(); got != "app=running" {
				t.Errorf("state after failed %s = %q, want app=running", step, got)
			}
		})
	}
}

// A cancelled apply (Ctrl-C during the stop) must still put the old
// container back: the undo runs on a context of its own.
func TestReplaceCancelledStillUndoes(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	ctx, cancel := context.WithCancel(context.Background())
	f.hook = func(ctx context.Context, call string) error {
		if call == "stop" {
			cancel()
		}
		return nil
	}
	_, err := Replace(ctx, f, old, spec)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("state = %q, want app=running", got)
	}
}

func TestReplaceUndoFailsToo(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	renames := 0
	f.hook = func(_ context.Context, call string) error {
		switch call {
		case "start":
			return errors.New("start boom")
		case "rename":
			renames++
			if renames > 1 {
				return errors.New("rename boom")
			}
		}
		return nil
	}
	r, err := Replace(context.Background(), f, old, spec)
	if err == nil || !strings.Contains(err.Error(), "start boom") || !strings.Contains(err.Error(), "rename boom") || !strings.Contains(err.Error(), "FAILED") {
		t.Fatalf("err = %v", err)
	}
	if r.OldID != old.ID || r.BackupName == "" {
		t.Errorf("replacement = %+v; want it filled in for a later rollback", r)
	}
	// What is left: the old container stopped under its backup name; a
	// later Undo (plan rollback) from the record finishes the job.
	f.hook = nil
	if err := Undo(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("state = %q, want app=running", got)
	}
}

func TestReplaceRefusesBeforeAnyChange(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(f *fakeEngine, old *fakeContainer)
		spec    Spec
		want    string
	}{
		{
			name: "leftover backup",
			prepare: func(f *fakeEngine, old *fakeContainer) {
				f.nextID++
				id := strings.Repeat("f", 64)
				f.containers[id] = &fakeContainer{id: id, name: BackupName("app", old.id), cfg: old.cfg, hc: old.hc}
			},
			spec: spec,
			want: "already exists",
		},
		{
			name: "missing image",
			spec: Spec{Image: "hello:missing"},
			want: "not present",
		},
		{
			name:    "auto-remove container",
			prepare: func(_ *fakeEngine, old *fakeContainer) { old.hc.AutoRemove = true },
			spec:    spec,
			want:    "--rm",
		},
		{
			name:    "a backup itself",
			prepare: func(_ *fakeEngine, old *fakeContainer) { old.name = BackupName("app", old.id) },
			spec:    spec,
			want:    "backup",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			old := f.add("app", nil)
			if tt.prepare != nil {
				f.mu.Lock()
				tt.prepare(f, f.containers[old.ID])
				f.mu.Unlock()
				old, _ = f.ContainerInspect(context.Background(), old.ID)
			}
			before := f.state()
			f.calls = nil
			_, err := Replace(context.Background(), f, old, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "othing was changed") && !strings.Contains(err.Error(), "as it was") {
				t.Fatalf("err = %v; want it to say %q and that nothing changed", err, tt.want)
			}
			if got := f.state(); got != before {
				t.Errorf("state = %q, want %q", got, before)
			}
			for _, c := range f.calls {
				if c != "inspect" && c != "image" {
					t.Errorf("call %q made before refusing", c)
				}
			}
		})
	}
}

func TestUndoIsIdempotent(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	r, err := Replace(context.Background(), f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := Undo(context.Background(), f, r); err != nil {
			t.Fatalf("Undo #%d: %v", i+1, err)
		}
		if got := f.state(); got != "app=running" {
			t.Errorf("state after Undo #%d = %q", i+1, got)
		}
	}
	err = Finalize(context.Background(), f, r)
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Finalize after Undo: %v, want a refusal", err)
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("state = %q", got)
	}
}

// A crash between create and the journal write leaves a record without
// NewID: Undo finds the new container by its label, and never removes a
// container under the name that it did not create.
func TestUndoWithoutNewID(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	r, err := Replace(context.Background(), f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	r.NewID = ""
	if err := Undo(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("state = %q", got)
	}

	// Someone else's container under the name: left alone, clear error.
	f2 := newFakeEngine()
	old2 := f2.add("app", nil)
	r2, err := Replace(context.Background(), f2, old2, spec)
	if err != nil {
		t.Fatal(err)
	}
	f2.mu.Lock()
	f2.containers[r2.NewID].cfg.Labels = map[string]string{}
	f2.mu.Unlock()
	r2.NewID = ""
	err = Undo(context.Background(), f2, r2)
	if err == nil || !strings.Contains(err.Error(), "renaming the old container") {
		t.Errorf("Undo = %v, want a rename failure", err)
	}
	if got, want := f2.state(), r2.BackupName+"=stopped app=running"; got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
}

func TestFinalize(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	r, err := Replace(context.Background(), f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := Finalize(context.Background(), f, r); err != nil {
			t.Fatalf("Finalize #%d: %v", i+1, err)
		}
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("state = %q", got)
	}
	err = Undo(context.Background(), f, r)
	if err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("Undo after Finalize = %v", err)
	}
	if got := f.state(); got != "app=running" {
		t.Errorf("Undo after Finalize changed the state: %q", got)
	}
}

func TestReplaceStoppedContainerStaysStopped(t *testing.T) {
	f := newFakeEngine()
	old := f.add("app", nil)
	f.containers[old.ID].running = false
	old, _ = f.ContainerInspect(context.Background(), old.ID)
	r, err := Replace(context.Background(), f, old, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.OldRunning || slices.Contains(f.calls, "stop") {
		t.Errorf("OldRunning = %v, calls = %v", r.OldRunning, f.calls)
	}
	if err := Undo(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); got != "app=stopped" {
		t.Errorf("state = %q, want app=stopped", got)
	}
}

func TestFindContainerFake(t *testing.T) {
	f := newFakeEngine()
	compose := func(project, service string) map[string]string {
		return map[string]string{LabelComposeProject: project, LabelComposeService: service}
	}
	web := f.add("shop-web-1", compose("shop", "web"))
	f.add("shop-worker-1", compose("shop", "worker"))
	f.add("shop-worker-2", compose("shop", "worker"))
	f.add("blog-web-1", compose("blog", "web"))
	f.add("shop-web-run-1", map[string]string{LabelComposeProject: "shop", LabelComposeService: "web", LabelComposeOneoff: "True"})
	f.add(BackupName("shop-web-1", "abc"), compose("shop", "web"))
	plain := f.add("nginx", nil)
	ctx := context.Background()

	tests := []struct {
		ref, project string
		wantID       string
		wantErr      []string
	}{
		{ref: "nginx", wantID: plain.ID},
		{ref: "/nginx", wantID: plain.ID},
		{ref: plain.ID, wantID: plain.ID},
		{ref: plain.ID[:12], wantID: plain.ID},
		{ref: plain.ID[:5], wantErr: []string{"no container named"}}, // short prefixes are not names
		{ref: "shop-web-1", project: "blog", wantID: web.ID},         // a name wins
		{ref: "web", project: "shop", wantID: web.ID},                // one-off and backup ignored
		{ref: "web", wantErr: []string{"ambiguous", "blog-web-1", "shop-web-1", "set the compose project"}},
		{ref: "worker", project: "shop", wantErr: []string{"ambiguous", "shop-worker-1", "shop-worker-2"}},
		{ref: "ngnix", wantErr: []string{`did you mean "nginx"`}},
		{ref: "worker", project: "blog", wantErr: []string{`in project "blog"`, `service "worker" in project "shop"`}},
		{ref: "zzzzzzzz", wantErr: []string{"none with a similar name"}},
	}
	for _, tt := range tests {
		c, err := FindContainer(ctx, f, tt.ref, tt.project)
		if tt.wantErr != nil {
			if err == nil {
				t.Errorf("FindContainer(%q, %q) = %s, want an error", tt.ref, tt.project, c.Name)
				continue
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("FindContainer(%q, %q) error %q does not say %q", tt.ref, tt.project, err, w)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("FindContainer(%q, %q): %v", tt.ref, tt.project, err)
		} else if c.ID != tt.wantID {
			t.Errorf("FindContainer(%q, %q) = %s, want %s", tt.ref, tt.project, c.Name, tt.wantID[:12])
		}
	}
}

func TestImageAvailableFake(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	var got []string
	progress := func(s string) { got = append(got, s) }
	if err := ImageAvailable(ctx, f, "hello:v2", progress); err != nil || len(got) != 0 {
		t.Errorf("present image: err %v, progress %v", err, got)
	}
	if err := ImageAvailable(ctx, f, "hello:v3", progress); err != nil {
		t.Errorf("pullable image: %v", err)
	}
	want := []string{"v2: Pulling from library/x", "abc: Pulling fs layer", "abc: Downloading", "abc: Pull complete"}
	if !slices.Equal(got, want) {
		t.Errorf("progress = %q, want %q", got, want)
	}
	err := ImageAvailable(ctx, f, "hello:denied", nil)
	if err == nil || !strings.Contains(err.Error(), "image hello:denied is not present and could not be pulled: pull access denied") {
		t.Errorf("err = %v", err)
	}
}

// The old container is stopped with its own grace period, or the engine's
// default 10s, and its own signal.
func TestReplaceStopOptions(t *testing.T) {
	for _, tt := range []struct {
		timeout *int
		signal  string
		want    int
	}{{nil, "", 10}, {ptr(3), "SIGQUIT", 3}, {ptr(0), "", 0}} {
		f := newFakeEngine()
		old := f.add("app", nil)
		f.containers[old.ID].cfg.StopTimeout = tt.timeout
		f.containers[old.ID].cfg.StopSignal = tt.signal
		old, _ = f.ContainerInspect(context.Background(), old.ID)
		if _, err := Replace(context.Background(), f, old, spec); err != nil {
			t.Fatal(err)
		}
		if len(f.stops) != 1 || f.stops[0].Timeout == nil || *f.stops[0].Timeout != tt.want || f.stops[0].Signal != tt.signal {
			t.Errorf("StopTimeout %v: stop options %+v, want timeout %d signal %q", tt.timeout, f.stops, tt.want, tt.signal)
		}
	}
}

func ptr[T any](v T) *T { return &v }
