package dockerx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is an in-memory engine with just the calls Replace, Undo,
// Finalize and FindContainer make, and a hook to fail or act in any of them,
// so the failure paths can be tested without Docker. Calls it does not
// implement panic through the nil embedded interface.
type fakeEngine struct {
	client.APIClient

	mu         sync.Mutex
	containers map[string]*fakeContainer // by ID
	images     map[string]image.InspectResponse
	nextID     int
	calls      []string
	stops      []container.StopOptions
	// hook runs at the start of every call with its name ("rename", "create",
	// "connect", "stop", "start", "remove", ...); an error fails the call.
	hook func(ctx context.Context, call string) error
}

type fakeContainer struct {
	id, name string
	running  bool
	cfg      *container.Config
	hc       *container.HostConfig
	nets     *container.NetworkSettings
}

// fakeID makes distinct IDs that differ in their first 12 characters, as
// real ones do.
func fakeID(n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(n)))
	return hex.EncodeToString(sum[:])
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		containers: map[string]*fakeContainer{},
		images: map[string]image.InspectResponse{
			"sha256:oldimage": oldImage(),
			"hello:v2":        newImage(),
		},
	}
}

// add puts a running container built from composeOld under name.
func (f *fakeEngine) add(name string, labels map[string]string) container.InspectResponse {
	f.mu.Lock()
	f.nextID++
	id := fakeID(f.nextID)
	old := composeOld()
	old.Config.Labels = labels
	f.containers[id] = &fakeContainer{id: id, name: name, running: true, cfg: old.Config, hc: old.HostConfig, nets: old.NetworkSettings}
	f.mu.Unlock()
	c, _ := f.ContainerInspect(context.Background(), id)
	return c
}

func (f *fakeEngine) enter(ctx context.Context, call string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, call); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (f *fakeEngine) lookup(ref string) *fakeContainer {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range f.containers {
		if c.name == ref {
			return c
		}
	}
	if c, ok := f.containers[ref]; ok {
		return c
	}
	for id, c := range f.containers {
		if strings.HasPrefix(id, ref) {
			return c
		}
	}
	return nil
}

func notFound(what string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such container: " + what)
}

func (f *fakeEngine) ContainerInspect(ctx context.Context, ref string) (container.InspectResponse, error) {
	if err := f.enter(ctx, "inspect"); err != nil {
		return container.InspectResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(ref)
	if c == nil {
		return container.InspectResponse{}, notFound(ref)
	}
	st := &container.State{Status: container.StateExited, Running: c.running}
	if c.running {
		st.Status = container.StateRunning
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: c.id, Name: "/" + c.name, Image: "sha256:oldimage", State: st, HostConfig: c.hc},
		Config:            c.cfg,
		NetworkSettings:   c.nets,
	}, nil
}

func (f *fakeEngine) ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error) {
	if err := f.enter(ctx, "list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for _, c := range f.containers {
		if !matchLabels(opts.Filters, c.cfg.Labels) {
			continue
		}
		st := container.StateExited
		if c.running {
			st = container.StateRunning
		}
		out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Labels: c.cfg.Labels, State: st})
	}
	return out, nil
}

func matchLabels(f filters.Args, labels map[string]string) bool {
	for _, l := range f.Get("label") {
		k, v, _ := strings.Cut(l, "=")
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (f *fakeEngine) ContainerRename(ctx context.Context, id, name string) error {
	if err := f.enter(ctx, "rename"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(id)
	if c == nil {
		return notFound(id)
	}
	if o := f.lookup(name); o != nil && o.name == name {
		return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("name %q is already in use by container %s", name, o.id))
	}
	c.name = name
	return nil
}

func (f *fakeEngine) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if err := f.enter(ctx, "create"); err != nil {
		return container.CreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.lookup(name); o != nil && o.name == name {
		return container.CreateResponse{}, cerrdefs.ErrConflict.WithMessage("name in use")
	}
	f.nextID++
	id := fakeID(f.nextID)
	f.containers[id] = &fakeContainer{id: id, name: name, cfg: cfg, hc: hc, nets: &container.NetworkSettings{}}
	return container.CreateResponse{ID: id}, nil
}

func (f *fakeEngine) NetworkConnect(ctx context.Context, _, id string, _ *network.EndpointSettings) error {
	return f.enter(ctx, "connect")
}

func (f *fakeEngine) setRunning(ctx context.Context, call, id string, running bool) error {
	if err := f.enter(ctx, call); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(id)
	if c == nil {
		return notFound(id)
	}
	c.running = running
	return nil
}

func (f *fakeEngine) ContainerStop(ctx context.Context, id string, opts container.StopOptions) error {
	f.mu.Lock()
	f.stops = append(f.stops, opts)
	f.mu.Unlock()
	return f.setRunning(ctx, "stop", id, false)
}

func (f *fakeEngine) ContainerStart(ctx context.Context, id string, _ container.StartOptions) error {
	return f.setRunning(ctx, "start", id, true)
}

func (f *fakeEngine) ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error {
	if err := f.enter(ctx, "remove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(id)
	if c == nil {
		return notFound(id)
	}
	if c.running && !opts.Force {
		return cerrdefs.ErrConflict.WithMessage("container is running")
	}
	delete(f.containers, c.id)
	return nil
}

func (f *fakeEngine) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if err := f.enter(ctx, "image"); err != nil {
		return image.InspectResponse{}, err
	}
	if i, ok := f.images[ref]; ok {
		return i, nil
	}
	return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (f *fakeEngine) ImagePull(ctx context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	if err := f.enter(ctx, "pull"); err != nil {
		return nil, err
	}
	body := `{"status":"Pulling from library/x","id":"v2"}
{"status":"Pulling fs layer","id":"abc"}
{"status":"Downloading","progressDetail":{"current":1,"total":10},"id":"abc"}
{"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"abc"}
{"status":"Pull complete","id":"abc"}
`
	if strings.Contains(ref, "denied") {
		body += `{"errorDetail":{"message":"pull access denied for x"},"error":"pull access denied for x"}` + "\n"
	} else {
		f.images[ref] = newImage()
	}
	return io.NopCloser(strings.NewReader(body)), nil
}

// state describes the engine as "name=running|stopped ..." sorted, for
// asserting the state a failure leaves.
func (f *fakeEngine) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, c := range f.containers {
		s := "stopped"
		if c.running {
			s = "running"
		}
		parts = append(parts, c.name+"="+s)
	}
	sortStrings(parts)
	return strings.Join(parts, " ")
}
