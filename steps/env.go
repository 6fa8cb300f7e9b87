// This file holds Env, what running steps share: the registry, the Docker
// engines and the nginx balancers, opened once per apply or rollback.
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
	"github.com/hashicorp/hcl/v2"
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

	steps *Registry

	mu        sync.Mutex
	engines   map[dockerx.Endpoint]*engineConn
	lbs       map[NginxTarget]nginx.Membership
	downSince time.Time // first undo failure for an unreachable engine
	// stale are nginx targets whose running config may name an address
	// that is gone: the next undo on it reloads even if it changes nothing.
	stale map[NginxTarget]bool
	// nginxShared is what every Balancer of this Env shares: the locks
	// that serialize edits of one file and reloads of one nginx.
	nginxShared nginx.Shared
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

// NewEnv returns an Env that logs to log and runs the step types of reg
// (undos of journal entries are looked up there by type name).
func NewEnv(log zerolog.Logger, reg *Registry) *Env {
	return &Env{Log: log, EngineWait: DefaultEngineWait, steps: reg, engines: map[dockerx.Endpoint]*engineConn{}, lbs: map[NginxTarget]nginx.Membership{}}
}

// Close closes every connection.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.engines {
		select {
		case <-c.done:
			if c.cli != nil {
				_ = c.cli.Close()
			}
		default: // still connecting: its caller owns it
		}
	}
}

// engineConn is one connection to an engine, made once: done is closed
// when cli or err is set.
type engineConn struct {
	done chan struct{}
	cli  *client.Client
	err  error
}

// Engine returns a client for a Docker engine (the zero Endpoint: as the
// docker CLI chooses),
// connecting on first use. The connection is made under the first caller's
// ctx, holding no lock: steps on other engines go on meanwhile, and callers
// for the same engine wait for that one attempt (or their own ctx). A
// failed attempt is forgotten, so the next call tries again (an engine
// that restarts during a rollback).
func (e *Env) Engine(ctx context.Context, ep dockerx.Endpoint) (*client.Client, error) {
	e.mu.Lock()
	c, ok := e.engines[ep]
	if !ok {
		c = &engineConn{done: make(chan struct{})}
		e.engines[ep] = c
	}
	e.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			return c.cli, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the Docker engine to answer: %w", ctx.Err())
		}
	}
	c.cli, c.err = dockerx.ConnectEndpoint(ctx, ep)
	if c.err != nil {
		e.mu.Lock()
		delete(e.engines, ep)
		e.mu.Unlock()
	}
	close(c.done)
	return c.cli, c.err
}

// EngineRef is the Docker engine a step uses, as recorded in journals.
type EngineRef struct {
	dockerx.Endpoint        // inline in JSON: "host", "context", "ca_file", ...
	ComposeProject   string `json:"compose_project,omitempty"`
}

// EngineRefOf is the engine a docker block names (the zero EngineRef:
// as the docker CLI chooses), for code outside steps that reaches the
// same engine (shared state, in internal/runner).
func EngineRefOf(d *dsl.Docker) EngineRef { return engineRef(d) }

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
	// Mode is the nginx block's mode ("dynamic": the reload-free backend);
	// empty is "reload", as in journals written before modes existed.
	Mode string `json:"mode,omitempty"`
}

func nginxTarget(n *dsl.Nginx) NginxTarget {
	return NginxTarget{
		Config: n.Config.Value, Upstream: n.Upstream.Value, Container: n.Container.Value,
		PIDFile: n.PIDFile.Value, Binary: n.Binary.Value, MainConfig: n.MainConfig.Value,
		Engine: engineRef(n.Docker), Mode: modeOf(n),
	}
}

// modeOf is the target's Mode: "" for the default reload backend, so that
// targets (map keys, journal records) of plans without a mode stay as they were.
func modeOf(n *dsl.Nginx) string {
	if n.Mode.Value == dsl.NginxModeDynamic {
		return dsl.NginxModeDynamic
	}
	return ""
}

// Balancer returns the membership backend for an nginx upstream; for nginx
// in a container, it connects to its engine under ctx.
func (e *Env) Balancer(ctx context.Context, t NginxTarget) (nginx.Membership, error) {
	e.mu.Lock()
	if b, ok := e.lbs[t]; ok {
		e.mu.Unlock()
		return b, nil
	}
	e.mu.Unlock()
	var rt nginx.Runtime
	var file nginx.File
	var resolve nginx.AddrResolver
	var open nginx.FileOpener
	inPlace := false
	if t.Container != "" {
		cli, err := e.Engine(ctx, t.Engine.Endpoint)
		if err != nil {
			return nil, err
		}
		rt = nginx.ContainerRuntime(cli, t.Container, t.Binary)
		resolve = nginx.EngineResolver(cli, t.Container)
		// The seed bind-mounts the single file: a rename would leave the
		// container reading the old inode.
		inPlace = true
		// The config is reached through the engine unless it is this
		// machine's file (an engine here, a mount source that exists).
		if file, err = containerFile(rt, t, t.Config); err != nil {
			return nil, err
		}
		// The reload-free backend's state folder likewise: through the
		// engine unless the engine runs here and the folder is a bind
		// mount's source (see nginx.ContainerStateFile).
		place, err := t.Engine.Where()
		if err != nil {
			return nil, err
		}
		open = func(_ context.Context, name string) (nginx.File, error) {
			return nginx.ContainerStateFile(rt, name, place.Here)
		}
	} else {
		rt = nginx.HostRuntime(t.PIDFile, t.Binary, t.MainConfig)
	}
	var b nginx.Membership = nginx.New(nginx.Options{ConfigPath: t.Config, Upstream: t.Upstream, Runtime: rt, WriteInPlace: inPlace, Shared: &e.nginxShared, Log: e.Log, File: file})
	if t.Mode == dsl.NginxModeDynamic {
		b = nginx.NewDynamic(nginx.DynamicOptions{ConfigPath: t.Config, ConfigFile: file, Open: open, Upstream: t.Upstream, Runtime: rt, Resolve: resolve, Shared: &e.nginxShared, Log: e.Log})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lbs[t] = b
	return b, nil
}

// NginxFile is how a backend of the nginx of t reads and writes one of
// its files, path as a plan names it (the config, or a state file next to
// it): for nginx in a container, through its engine unless it is this
// machine's file (see nginx.ContainerFile), exactly as config edits are;
// for nginx on the host, this machine's file, rewritten by temp file and
// rename.
func (e *Env) NginxFile(ctx context.Context, t NginxTarget, path string) (nginx.File, error) {
	if t.Container == "" {
		return nginx.LocalFile(path, false), nil
	}
	cli, err := e.Engine(ctx, t.Engine.Endpoint)
	if err != nil {
		return nil, err
	}
	return containerFile(nginx.ContainerRuntime(cli, t.Container, t.Binary), t, path)
}

// containerFile is the File of path in the nginx container of t, run by
// rt: through the engine unless the engine runs on this machine and path
// is this machine's file (see nginx.ContainerFile).
func containerFile(rt nginx.Runtime, t NginxTarget, path string) (nginx.File, error) {
	place, err := t.Engine.Where()
	if err != nil {
		return nil, err
	}
	return nginx.ContainerFile(rt, path, place.Here)
}

// Undo compensates a completed step of the given type from its record.
// While a Docker engine does not answer, it retries for up to
// env.EngineWait (see there).
// A type this binary does not know is an error: the step cannot be said
// to be undone.
func Undo(ctx context.Context, env *Env, typ string, rec json.RawMessage, note func(string)) error {
	t, err := env.typ(typ)
	if err != nil || len(rec) == 0 {
		return err
	}
	return env.retryEngine(ctx, note, func() error { return t.Undo(ctx, env, rec, note) })
}

// typ is the registered step type of that name, or an error saying that
// this binary cannot undo it.
func (e *Env) typ(name string) (Type, error) {
	if e.steps != nil {
		if t, ok := e.steps.Type(name); ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("step type %q is unknown to this binary, so its change cannot be undone from here: run the version of plan that made it (`plan rollback`), or undo it by hand", name)
}

// UndoInterrupted undoes a step whose process died mid-step, from the
// record of its last checkpoint (what it was about to change): whether or
// not the change went through, and whatever part of it did, afterwards
// things are as before the step. A step that died before its first
// checkpoint changed nothing (rec is empty).
func UndoInterrupted(ctx context.Context, env *Env, typ string, rec json.RawMessage, note func(string)) error {
	t, err := env.typ(typ)
	if err != nil || len(rec) == 0 {
		return err
	}
	r, ok := t.(Recoverer)
	if !ok {
		return Undo(ctx, env, typ, rec, note)
	}
	return env.retryEngine(ctx, note, func() error { return r.Recover(ctx, env, rec, note) })
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
	t, err := env.typ(typ)
	if err != nil || len(rec) == 0 {
		return err
	}
	f, ok := t.(Finalizer)
	if !ok {
		return nil
	}
	return f.Finalize(ctx, env, rec)
}

// Task adapts a step to the executor.
type Task struct {
	Env  *Env
	Type string
	Spec Spec
	// Checkpoint records, durably, what the step is about to change, right
	// before it changes it (see UndoInterrupted). An error stops the step
	// before the change. Nil records nothing.
	Checkpoint func(json.RawMessage) error
	// Skip, when not empty, is why the step has nothing to do: Apply only
	// notes it, and there is nothing to undo.
	Skip string
	// Range is the step's block in the plan: an error without a range of
	// its own is reported there (dsl.At).
	Range hcl.Range
}

// Apply implements executor.Task.
func (t *Task) Apply(ctx context.Context, note func(string)) (json.RawMessage, error) {
	if t.Skip != "" {
		note("skipped: " + t.Skip)
		return nil, nil
	}
	rec, err := t.Spec.Apply(context.WithValue(ctx, checkpointKey{}, t.Checkpoint), t.Env, note)
	return rec, t.at(err, "Step failed")
}

// at wraps err with the step's range, unless it has a range already.
func (t *Task) at(err error, summary string) error {
	if t.Range.Filename == "" {
		return err
	}
	return dsl.At(err, summary, t.Range)
}

type checkpointKey struct{}

// checkpoint records rec through the running Task's Checkpoint, if any.
func checkpoint(ctx context.Context, rec json.RawMessage) error {
	fn, _ := ctx.Value(checkpointKey{}).(func(json.RawMessage) error)
	return record(fn, rec)
}

// Undo implements executor.Task.
func (t *Task) Undo(ctx context.Context, rec json.RawMessage, note func(string)) error {
	return t.at(Undo(ctx, t.Env, t.Type, rec, note), "Undo failed")
}

// Reversible implements executor.Reversible: a step that changes nothing
// (ChangesNothing) or left no record changed nothing.
func (t *Task) Reversible(rec json.RawMessage) bool {
	_, observes := t.Spec.(ChangesNothing)
	return !observes && len(rec) > 0
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
