package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/docker/docker/client"
	"github.com/rs/zerolog"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Env is what running steps share: connections to Docker engines and the
// nginx balancers, opened once and reused by every step. Safe for
// concurrent use.
type Env struct {
	Log zerolog.Logger

	mu      sync.Mutex
	engines map[string]*client.Client
	lbs     map[NginxTarget]nginx.Membership
}

// NewEnv returns an Env that logs to log.
func NewEnv(log zerolog.Logger) *Env {
	return &Env{Log: log, engines: map[string]*client.Client{}, lbs: map[NginxTarget]nginx.Membership{}}
}

// Close closes every connection.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.engines {
		_ = c.Close()
	}
}

// Engine returns a client for a Docker engine ("" = DOCKER_HOST / default).
func (e *Env) Engine(host string) (*client.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.engines[host]; ok {
		return c, nil
	}
	c, err := dockerx.Connect(host)
	if err != nil {
		return nil, err
	}
	e.engines[host] = c
	return c, nil
}

// EngineRef is the Docker engine a step uses, as recorded in journals.
type EngineRef struct {
	Host           string `json:"host,omitempty"`
	ComposeProject string `json:"compose_project,omitempty"`
}

func engineRef(d *dsl.Docker) EngineRef {
	if d == nil {
		return EngineRef{}
	}
	return EngineRef{Host: d.Host.Value, ComposeProject: d.ComposeProject.Value}
}

// NginxTarget identifies one upstream of one nginx, self-contained so that
// an undo read back from a journal needs nothing from the plan.
type NginxTarget struct {
	Config     string    `json:"config"`
	Upstream   string    `json:"upstream"`
	Container  string    `json:"container,omitempty"`
	PIDFile    string    `json:"pid_file,omitempty"`
	Binary     string    `json:"binary,omitempty"`
	MainConfig string    `json:"main_config,omitempty"`
	Engine     EngineRef `json:"engine,omitzero"`
}

func nginxTarget(n *dsl.Nginx) NginxTarget {
	return NginxTarget{
		Config: n.Config.Value, Upstream: n.Upstream.Value, Container: n.Container.Value,
		PIDFile: n.PIDFile.Value, Binary: n.Binary.Value, MainConfig: n.MainConfig.Value,
		Engine: engineRef(n.Docker),
	}
}

// Balancer returns the membership backend for an nginx upstream.
func (e *Env) Balancer(t NginxTarget) (nginx.Membership, error) {
	e.mu.Lock()
	if b, ok := e.lbs[t]; ok {
		e.mu.Unlock()
		return b, nil
	}
	e.mu.Unlock()
	var rt nginx.Runtime
	inPlace := false
	if t.Container != "" {
		cli, err := e.Engine(t.Engine.Host)
		if err != nil {
			return nil, err
		}
		rt = nginx.ContainerRuntime(cli, t.Container, t.Binary)
		// The seed bind-mounts the single file: a rename would leave the
		// container reading the old inode.
		inPlace = true
	} else {
		rt = nginx.HostRuntime(t.PIDFile, t.Binary, t.MainConfig)
	}
	b := nginx.New(nginx.Options{ConfigPath: t.Config, Upstream: t.Upstream, Runtime: rt, WriteInPlace: inPlace, Log: e.Log})
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lbs[t] = b
	return b, nil
}

// Runnable is a step spec that can run: what the executor needs, with the
// Env passed in. Every built-in spec implements it.
type Runnable interface {
	dsl.Spec
	// Preflight checks, without changing anything, that the step can run;
	// it returns every problem found.
	Preflight(ctx context.Context, env *Env) []error
	Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error)
}

// undoers rebuild an undo from a journal record, by step type, without
// the plan: `plan rollback` works from the journal alone.
var undoers = map[string]func(ctx context.Context, env *Env, rec json.RawMessage, note func(string)) error{}

// finalizers clean up after a successful apply, by step type.
var finalizers = map[string]func(ctx context.Context, env *Env, rec json.RawMessage) error{}

// Undo compensates a completed step of the given type from its record.
func Undo(ctx context.Context, env *Env, typ string, rec json.RawMessage, note func(string)) error {
	u, ok := undoers[typ]
	if !ok || len(rec) == 0 {
		return nil
	}
	return u(ctx, env, rec, note)
}

// Finalize cleans up after a completed step once the whole apply succeeded.
func Finalize(ctx context.Context, env *Env, typ string, rec json.RawMessage) error {
	f, ok := finalizers[typ]
	if !ok || len(rec) == 0 {
		return nil
	}
	return f(ctx, env, rec)
}

// Task adapts a step to the executor.
type Task struct {
	Env  *Env
	Type string
	Spec Runnable
}

// Apply implements executor.Task.
func (t *Task) Apply(ctx context.Context, note func(string)) (json.RawMessage, error) {
	return t.Spec.Apply(ctx, t.Env, note)
}

// Undo implements executor.Task.
func (t *Task) Undo(ctx context.Context, rec json.RawMessage, note func(string)) error {
	return Undo(ctx, t.Env, t.Type, rec, note)
}

// Finalize implements executor.Task.
func (t *Task) Finalize(ctx context.Context, rec json.RawMessage) error {
	return Finalize(ctx, t.Env, t.Type, rec)
}

func decodeRecord[T any](rec json.RawMessage) (T, error) {
	var v T
	if err := json.Unmarshal(rec, &v); err != nil {
		return v, fmt.Errorf("reading the step's journal record: %w", err)
	}
	return v, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records are plain structs; this cannot fail
	}
	return b
}
