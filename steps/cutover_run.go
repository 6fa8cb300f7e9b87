// This file runs the cutover step: one batch of membership changes (the
// idle colour in, the live colour out), the wait for the old colour's
// requests, its undo (the flip back), and its finalizer (stopping the
// previous colour when keep_previous = false).
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// cutoverRecord is what a cut-over leaves for its undo and finalizer. It is
// journaled as a checkpoint before nginx changes, with the changes known
// so far, so a cut-over cut short is flipped back from it too.
type cutoverRecord struct {
	Engine EngineRef   `json:"engine"`
	Nginx  NginxTarget `json:"nginx"`
	// From is the colour that served before, To the one that serves after.
	From string `json:"from"`
	To   string `json:"to"`
	// FromServers and FromContainers are the previous colour's server
	// lines and containers: a flip back needs them running.
	FromServers    []string `json:"from_servers"`
	FromContainers []string `json:"from_containers"`
	ToServers      []string `json:"to_servers"`
	KeepPrevious   bool     `json:"keep_previous"`
	DrainTimeout   string   `json:"drain_timeout"`
	// Changes are the membership changes made (or about to be), as one
	// batch; the undo reverts them as one.
	Changes []nginx.Change `json:"changes"`
	// Idle is how the idle colour's lines are marked (dsl.IdleDown when
	// empty: records written before idle = "backup" existed).
	Idle string `json:"idle,omitempty"`
}

// Preflight implements Spec: the upstream holds every server line of both
// colours, nginx accepts its config, exactly one colour is live, and with
// idle = "backup", the backend can move the backup flag in one batch.
func (s *CutoverSpec) Preflight(ctx context.Context, env *Env) []error {
	b, err := env.Balancer(ctx, nginxTarget(s.Nginx))
	if err != nil {
		return []error{err}
	}
	if err := s.canBackup(ctx, b); err != nil {
		return []error{dsl.At(err, "idle = \"backup\" not supported", s.decl)}
	}
	if err := b.Check(ctx, s.servers()); err != nil {
		return []error{err}
	}
	ms, err := b.Members(ctx)
	if err != nil {
		return []error{err}
	}
	if _, err := s.live(ms); err != nil {
		return []error{dsl.At(err, "No single live colour", s.decl)}
	}
	return nil
}

// liveNow reads the live colour from nginx.
func (s *CutoverSpec) liveNow(ctx context.Context, env *Env) (nginx.Membership, int, error) {
	b, err := env.Balancer(ctx, nginxTarget(s.Nginx))
	if err != nil {
		return nil, -1, err
	}
	ms, err := b.Members(ctx)
	if err != nil {
		return nil, -1, err
	}
	live, err := s.live(ms)
	return b, live, err
}

// Apply implements Spec.
func (s *CutoverSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Cut-over failed", s.decl)
}

func (s *CutoverSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	b, live, err := s.liveNow(ctx, env)
	if err != nil {
		return nil, err
	}
	from, to := s.Colours[live], s.Colours[1-live]
	rec := cutoverRecord{Engine: engineRef(s.Engine), Nginx: nginxTarget(s.Nginx), From: from.Name, To: to.Name,
		FromServers: from.Servers, FromContainers: from.Containers, ToServers: to.Servers,
		KeepPrevious: s.KeepPrevious.Value, DrainTimeout: s.Nginx.DrainTimeout.Value.String()}
	rec.Idle = s.Idle
	if err := s.canBackup(ctx, b); err != nil {
		return nil, err
	}
	opIn, opOut := nginx.OpRestore, nginx.OpMarkDown
	if s.Idle == dsl.IdleBackup {
		opIn, opOut = nginx.OpUnsetBackup, nginx.OpSetBackup
	}
	var wants []nginx.Change
	for _, srv := range to.Servers {
		wants = append(wants, nginx.Change{Op: opIn, Server: srv})
	}
	for _, srv := range from.Servers {
		wants = append(wants, nginx.Change{Op: opOut, Server: srv})
	}
	hook := nginx.WithBeforeChange(ctx, func(c nginx.Change) error {
		rec.Changes = append(rec.Changes, c)
		return checkpoint(ctx, mustJSON(rec))
	})
	cs, err := nginx.ChangeMany(hook, b, wants)
	if err != nil {
		if errors.Is(err, nginx.ErrRestoreFailed) {
			rec.Changes = cs
			return mustJSON(rec), err
		}
		return nil, fmt.Errorf("moving the traffic from %s to %s: %w (nginx still serves %s)", from.Name, to.Name, err, from.Name)
	}
	rec.Changes = cs
	out := mustJSON(rec)
	note(fmt.Sprintf("live: %s → %s: %s now serves (%s), %s marked %s", from.Name, to.Name, to.Name, strings.Join(to.Servers, ", "), from.Name, s.idleWord()))
	for _, c := range cs {
		if c.Noop || c.Op != opOut {
			continue
		}
		rep, err := b.WaitDrained(ctx, c, s.Nginx.DrainTimeout.Value)
		if err != nil {
			return out, fmt.Errorf("waiting for %s's requests to finish: %w", from.Name, err)
		}
		if rep.TimedOut {
			note(fmt.Sprintf("warning: drain_timeout %s reached; %d old nginx worker(s) still hold %s", s.Nginx.DrainTimeout.Value, len(rep.Remaining), nginx.Summary(rep.Conns)))
		} else {
			note(fmt.Sprintf("%s drained in %s", from.Name, rep.Took.Round(1e6)))
		}
		break // one reload: one generation of old workers to wait for
	}
	return out, nil
}

// Undo implements Type: the traffic back on the previous colour, in one
// edit and one reload, once its containers are known to run. It is the
// apply's own rollback after a failed cut-over or gate, and `plan
// rollback` after a finished blue/green apply.
func (Cutover) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	return flip(ctx, env, raw, note, true)
}

// FlipBack is `plan rollback` after a finished blue/green apply: the
// cut-over's undo without the wait for the requests in flight to the
// colour taken out, which keeps running and finishes them (only an apply's
// own rollback, which then undoes that colour's deploys, must wait).
func FlipBack(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	return env.retryEngine(ctx, note, func() error { return flip(ctx, env, raw, note, false) })
}

// flip moves the traffic back to the colour a cut-over took it from, and
// with wait, waits until the other colour's requests are done.
func flip(ctx context.Context, env *Env, raw json.RawMessage, note func(string), wait bool) error {
	rec, err := decodeRecord[cutoverRecord](raw)
	if err != nil || len(rec.Changes) == 0 {
		return err
	}
	if err := previousRuns(ctx, env, rec); err != nil {
		return err
	}
	b, err := env.Balancer(ctx, rec.Nginx)
	if err != nil {
		return err
	}
	if err := nginx.UndoMany(ctx, b, rec.Changes); err != nil {
		return fmt.Errorf("moving the traffic back from %s to %s: %w", rec.To, rec.From, err)
	}
	if wait && len(rec.ToServers) > 0 {
		if _, err := b.WaitIdle(ctx, rec.ToServers[0], parseDurationOr(rec.DrainTimeout, 30e9)); err != nil {
			return fmt.Errorf("waiting for %s's requests to finish: %w", rec.To, err)
		}
	}
	idle := "down"
	if rec.Idle == dsl.IdleBackup {
		idle = "backup"
	}
	note(fmt.Sprintf("live: %s again (%s); %s marked %s", rec.From, strings.Join(rec.FromServers, ", "), rec.To, idle))
	return nil
}

// canBackup refuses idle = "backup" on a Membership that cannot make the
// backup swap in one batch, or whose upstream nginx allows no backup
// servers in (hash, ip_hash, random): only the reload backend moves the
// backup flag (it has CheckBackup); the reload-free backend has no backup
// servers. Load refuses mode = "dynamic" already; this is the same
// refusal for a Membership chosen any other way, and the balancing-method
// check before anything is deployed.
func (s *CutoverSpec) canBackup(ctx context.Context, m nginx.Membership) error {
	if s.Idle != dsl.IdleBackup {
		return nil
	}
	if b, ok := m.(interface{ CheckBackup(context.Context) error }); ok {
		return b.CheckBackup(ctx)
	}
	return fmt.Errorf("idle = \"backup\" needs the reload backend (nginx mode = \"reload\"): %T cannot move nginx's backup flag between colours in one step. Use idle = \"down\" with this nginx", m)
}

// previousRuns refuses a flip back to a colour whose containers do not
// all run: nginx would send the traffic to nothing.
func previousRuns(ctx context.Context, env *Env, rec cutoverRecord) error {
	if len(rec.FromContainers) == 0 {
		return nil
	}
	cli, err := env.Engine(ctx, rec.Engine.Endpoint)
	if err != nil {
		return err
	}
	var stopped []string
	for _, name := range rec.FromContainers {
		c, err := dockerx.FindContainer(ctx, cli, name, rec.Engine.ComposeProject)
		if err != nil {
			stopped = append(stopped, name+" (not found)")
			continue
		}
		if c.State == nil || !c.State.Running {
			stopped = append(stopped, name)
		}
	}
	if len(stopped) > 0 {
		return fmt.Errorf("refusing to move the traffic back to %s: its container(s) %s do not run (keep_previous = false stops them after a successful apply). Start them (docker start) and run plan rollback again, or deploy the previous version with plan apply",
			rec.From, strings.Join(stopped, ", "))
	}
	return nil
}

// Finalize implements Finalizer: with keep_previous = false, the previous
// colour's containers stop once the whole apply succeeded (gracefully,
// each with its own stop timeout).
func (Cutover) Finalize(ctx context.Context, env *Env, raw json.RawMessage) error {
	rec, err := decodeRecord[cutoverRecord](raw)
	if err != nil || rec.KeepPrevious || len(rec.Changes) == 0 {
		return err
	}
	cli, err := env.Engine(ctx, rec.Engine.Endpoint)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range rec.FromContainers {
		c, err := dockerx.FindContainer(ctx, cli, name, rec.Engine.ComposeProject)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.State != nil && c.State.Running {
			if err := dockerx.StopGracefully(ctx, cli, c); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s of %s: %w", name, rec.From, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Preview implements Previewer: which colour nginx serves now and which
// one the apply deploys.
func (s *CutoverSpec) Preview(ctx context.Context, env *Env) (Change, error) {
	_, live, err := s.liveNow(ctx, env)
	if err != nil {
		return Change{}, err
	}
	return Change{Items: []ChangeItem{{What: "live:", Before: s.Colours[live].Name, After: "deploying " + s.Colours[1-live].Name}}}, nil
}

// CutoverFrom reads a cut-over's record: the colour that served before
// and the one that serves after (for `plan rollback` to say what it does).
func CutoverFrom(rec json.RawMessage) (from, to string, err error) {
	r, err := decodeRecord[cutoverRecord](rec)
	return r.From, r.To, err
}
