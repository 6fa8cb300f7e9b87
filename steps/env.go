package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

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
	// EngineWait is how long undos keep retrying while a Docker engine does
	// not answer (a daemon restart), counted from the first failure, for
	// the whole rollback: once it has passed, undos that need the engine
	// fail at once. Default DefaultEngineWait.
	EngineWait time.Duration

	mu        sync.Mutex
	engines   map[dockerx.Endpoint]*client.Client
	lbs       map[NginxTarget]nginx.Membership
	downSince time.Time // first undo failure for an unreachable engine
	// stale are nginx targets whose running config may name an address
	// that is gone: the next undo on it reloads even if it changes nothing.
	stale map[NginxTarget]bool
}

// markStale notes that nginx t must be refreshed by the next undo on it.
func (e *Env) markStale(t NginxTarget) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stale == nil {
		e.stale = map[NginxTarget]bool{}
	}
	e.stale[t] = true
}

// takeStale reports (and forgets) whether nginx t must be refreshed.
func (e *Env) takeStale(t NginxTarget) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	was := e.stale[t]
	delete(e.stale, t)
	return was
}

// DefaultEngineWait covers a Docker daemon restart.
const DefaultEngineWait = 10 * time.Second

// NewEnv returns an Env that logs to log.
func NewEnv(log zerolog.Logger) *Env {
	return &Env{Log: log, EngineWait: DefaultEngineWait, engines: map[dockerx.Endpoint]*client.Client{}, lbs: map[NginxTarget]nginx.Membership{}}
}

// Close closes every connection.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.engines {
		_ = c.Close()
	}
}

// Engine returns a client for a Docker engine (the zero Endpoint: as the
// docker CLI chooses).
func (e *Env) Engine(ep dockerx.Endpoint) (*client.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.engines[ep]; ok {
		return c, nil
	}
	c, err := dockerx.ConnectEndpoint(context.Background(), ep)
	if err != nil {
		return nil, err
	}
	e.engines[ep] = c
	return c, nil
}

// EngineRef is the Docker engine a step uses, as recorded in journals.
type EngineRef struct {
	dockerx.Endpoint        // inline in JSON: "host", "context", "ca_file", ...
	ComposeProject   string `json:"compose_project,omitempty"`
}

func engineRef(d *dsl.Docker) EngineRef {
	if d == nil {
		return EngineRef{}
	}
	return EngineRef{ComposeProject: d.ComposeProject.Value, Endpoint: dockerx.Endpoint{
		Host: d.Host.Value, Context: d.Context.Value, TLSVerify: d.TLSVerify.Value,
		CAFile: d.CAFile.Value, CertFile: d.CertFile.Value, KeyFile: d.KeyFile.Value}}
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
		cli, err := e.Engine(t.Engine.Endpoint)
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

// recoverers undo a step that was interrupted mid-way (its process died),
// from the record of its last checkpoint, when that needs more than the
// step type's undoer.
var recoverers = map[string]func(ctx context.Context, env *Env, rec json.RawMessage, note func(string)) error{}

// Undo compensates a completed step of the given type from its record.
// While a Docker engine does not answer, it retries for up to
// env.EngineWait (see there).
func Undo(ctx context.Context, env *Env, typ string, rec json.RawMessage, note func(string)) error {
	u, ok := undoers[typ]
	if !ok || len(rec) == 0 {
		return nil
	}
	return env.retryEngine(ctx, note, func() error { return u(ctx, env, rec, note) })
}

// UndoInterrupted undoes a step whose process died mid-step, from the
// record of its last checkpoint (what it was about to change): whether or
// not the change went through, and whatever part of it did, afterwards
// things are as before the step. A step that died before its first
// checkpoint changed nothing (rec is empty).
func UndoInterrupted(ctx context.Context, env *Env, typ string, rec json.RawMessage, note func(string)) error {
	if len(rec) == 0 {
		return nil
	}
	u, ok := recoverers[typ]
	if !ok {
		return Undo(ctx, env, typ, rec, note)
	}
	return env.retryEngine(ctx, note, func() error { return u(ctx, env, rec, note) })
}

// retryEngine runs fn again while it fails because a Docker engine does
// not answer, until env.EngineWait after the first such failure of the
// whole rollback. Undos are idempotent, so a retry picks up where the last
// attempt stopped.
func (e *Env) retryEngine(ctx context.Context, note func(string), fn func() error) error {
	told := false
	for {
		err := fn()
		if err == nil || !EngineUnreachable(err) {
			if err == nil {
				e.mu.Lock()
				e.downSince = time.Time{}
				e.mu.Unlock()
			}
			return err
		}
		e.mu.Lock()
		if e.downSince.IsZero() {
			e.downSince = time.Now()
		}
		left := e.EngineWait - time.Since(e.downSince)
		e.mu.Unlock()
		if left <= 0 || ctx.Err() != nil {
			return err
		}
		if !told {
			told = true
			note(fmt.Sprintf("the Docker engine does not answer; retrying for up to %s", left.Round(time.Second)))
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Second, left)):
		}
	}
}

// EngineUnreachable reports whether err comes from a Docker engine that
// does not answer (daemon stopped or restarting, socket gone, connection
// cut), as opposed to an engine that answered with an error.
func EngineUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if client.IsErrConnectionFailed(err) {
		return true
	}
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
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
	// Checkpoint records, durably, what the step is about to change, right
	// before it changes it (see UndoInterrupted). An error stops the step
	// before the change. Nil records nothing.
	Checkpoint func(json.RawMessage) error
	// Skip, when not empty, is why the step has nothing to do: Apply only
	// notes it, and there is nothing to undo.
	Skip string
}

// Apply implements executor.Task.
func (t *Task) Apply(ctx context.Context, note func(string)) (json.RawMessage, error) {
	if t.Skip != "" {
		note("skipped: " + t.Skip)
		return nil, nil
	}
	return t.Spec.Apply(context.WithValue(ctx, checkpointKey{}, t.Checkpoint), t.Env, note)
}

type checkpointKey struct{}

// checkpoint records rec through the running Task's Checkpoint, if any.
func checkpoint(ctx context.Context, rec json.RawMessage) error {
	fn, _ := ctx.Value(checkpointKey{}).(func(json.RawMessage) error)
	return record(fn, rec)
}

// Undo implements executor.Task.
func (t *Task) Undo(ctx context.Context, rec json.RawMessage, note func(string)) error {
	return Undo(ctx, t.Env, t.Type, rec, note)
}

// Reversible implements executor.Reversible: only a step type with an
// undoer, and a record to undo from, changed anything.
func (t *Task) Reversible(rec json.RawMessage) bool {
	_, ok := undoers[t.Type]
	return ok && len(rec) > 0
}

// Finalize implements executor.Task.
func (t *Task) Finalize(ctx context.Context, rec json.RawMessage) error {
	return Finalize(ctx, t.Env, t.Type, rec)
}

// shown is a plan value as messages may show it: "(sensitive)" when it
// derives from a sensitive variable.
func shown(s dsl.String) string {
	if s.Sensitive {
		return "(sensitive)"
	}
	return s.Value
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
