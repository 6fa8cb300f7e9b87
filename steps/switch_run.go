// This file runs the switch step: the detour to a start-first deploy's new
// container, stopping the old one, and its undo.
package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// switchRecord is what a switch leaves for its undo. It is journaled as a
// checkpoint before the first change, so a switch cut short (its process
// killed) is undone from it too: the undo looks at what is there.
type switchRecord struct {
	Engine EngineRef   `json:"engine"`
	Nginx  NginxTarget `json:"nginx"`
	Server string      `json:"server"`
	// Name is the container's name; NewID and OldID the containers of the
	// start-first deploy; NewAddr the new one's IP:port the detour sent to.
	Name    string `json:"name"`
	NewID   string `json:"new_id"`
	OldID   string `json:"old_id"`
	NewAddr string `json:"new_addr"`
	// WasDown is the server's down before the switch.
	WasDown bool `json:"was_down,omitempty"`
	// DrainTimeout bounds the waits for nginx's old workers.
	DrainTimeout string `json:"drain_timeout"`
	// Noop: the old container was not running, nothing was switched.
	Noop bool `json:"noop,omitempty"`
}

// Undo implements Type: the traffic back on the old container.
func (Switch) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	rec, err := decodeRecord[switchRecord](raw)
	if err != nil || rec.Noop {
		return err
	}
	return undoSwitch(ctx, env, rec, note)
}

// move sends server's requests from the container `from` to `to` without a
// request ever reaching a container that is stopping: a detour to to's
// address (nginx stops sending to the name, which resolves to both), a wait
// for the requests nginx had sent before, a graceful stop of from, and the
// end of the detour (the name now resolves to to alone).
func move(ctx context.Context, cli client.APIClient, b nginx.Membership, server, toAddr string, wasDown bool, from container.InspectResponse, drain string, note func(string)) error {
	ch, err := nginx.Detour(ctx, b, server, toAddr)
	if err != nil {
		return fmt.Errorf("sending %s's requests to %s: %w", server, toAddr, err)
	}
	rep, err := b.WaitDrained(ctx, ch, parseDurationOr(drain, 30e9))
	if err != nil {
		return fmt.Errorf("waiting for %s's requests to %s to finish: %w", server, trimSlash(from.Name), err)
	}
	switch {
	case rep.TimedOut && rep.InFlight > 0:
		// The reload-free backend counts requests, not workers.
		note(fmt.Sprintf("warning: drain_timeout %s reached; %d request(s) to %s still in flight on %s", drain, rep.InFlight, server, trimSlash(from.Name)))
	case rep.TimedOut:
		note(fmt.Sprintf("warning: drain_timeout %s reached; %d old nginx worker(s) still hold %s", drain, len(rep.Remaining), nginx.Summary(rep.Conns)))
	}
	if err := dockerx.StopGracefully(ctx, cli, from); err != nil {
		return fmt.Errorf("stopping %s: %w", trimSlash(from.Name), err)
	}
	if _, err := nginx.Undetour(ctx, b, server, toAddr, wasDown); err != nil {
		return fmt.Errorf("%s stopped, but putting %s back under its name failed: %w (nginx still sends its requests to %s)", trimSlash(from.Name), server, err, toAddr)
	}
	return nil
}

// undoSwitch moves the traffic back: the old container runs again and
// takes the server's requests the same way (see move), and the new one
// ends stopped. The start-first deploy's undo then removes the new one and
// renames the old one back, and no request meets a stopping server.
func undoSwitch(ctx context.Context, env *Env, rec switchRecord, note func(string)) error {
	cli, err := env.Engine(ctx, rec.Engine.Endpoint)
	if err != nil {
		return err
	}
	b, err := env.Balancer(ctx, rec.Nginx)
	if err != nil {
		return err
	}
	old, err := cli.ContainerInspect(ctx, rec.OldID)
	if err != nil {
		return fmt.Errorf("switching %s back: cannot inspect the old container %s: %w", rec.Server, short(rec.OldID), err)
	}
	if old.State == nil || !old.State.Running {
		if err := cli.ContainerStart(ctx, rec.OldID, container.StartOptions{}); err != nil {
			return fmt.Errorf("switching %s back: cannot start the old container %s again: %w; the new one still serves", rec.Server, short(rec.OldID), err)
		}
		dockerx.WaitListening(ctx, cli, rec.OldID, dockerx.ListenWait)
	}
	// A detour to the new container may be in place (the switch was cut
	// short): end it first; both containers run, so nothing is lost.
	if _, err := nginx.Undetour(ctx, b, rec.Server, rec.NewAddr, rec.WasDown); err != nil {
		return fmt.Errorf("switching %s back: %w", rec.Server, err)
	}
	cur, err := cli.ContainerInspect(ctx, rec.NewID)
	switch {
	case cerrdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("switching %s back: cannot inspect the new container %s: %w", rec.Server, short(rec.NewID), err)
	case cur.State != nil && cur.State.Running:
		oldAddr, err := addrOn(ctx, cli, rec.OldID, rec.Nginx, rec.Server)
		if err != nil {
			return fmt.Errorf("switching %s back: %w", rec.Server, err)
		}
		if err := move(ctx, cli, b, rec.Server, oldAddr, rec.WasDown, cur, rec.DrainTimeout, note); err != nil {
			return fmt.Errorf("switching %s back: %w", rec.Server, err)
		}
	}
	note(fmt.Sprintf("%s is served by the old container again", rec.Server))
	return nil
}

// addrOn is the IP:port at which nginx reaches container id for server
// (whose port it keeps): its address on a network it shares with nginx's
// container, or, for nginx on the host, on its first network.
func addrOn(ctx context.Context, cli client.APIClient, id string, t NginxTarget, server string) (string, error) {
	_, port, err := net.SplitHostPort(server)
	if err != nil {
		port = "80" // nginx's default for an address without a port
	}
	network := ""
	if t.Container != "" {
		c, err1 := cli.ContainerInspect(ctx, id)
		n, err2 := cli.ContainerInspect(ctx, t.Container)
		if err1 == nil && err2 == nil && c.NetworkSettings != nil && n.NetworkSettings != nil {
			var shared []string
			for name := range c.NetworkSettings.Networks {
				if _, ok := n.NetworkSettings.Networks[name]; ok {
					shared = append(shared, name)
				}
			}
			sort.Strings(shared)
			if len(shared) > 0 {
				network = shared[0]
			}
		}
	}
	ip, err := dockerx.ContainerIP(ctx, cli, id, network)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, port), nil
}

// Preflight implements Spec: the container exists (the upstream and its
// server line are checked with every other nginx step's).
func (s *SwitchSpec) Preflight(ctx context.Context, env *Env) []error {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return []error{err}
	}
	if _, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject); err != nil {
		return []error{dsl.At(err, "Container not found", s.Container.Range)}
	}
	return nil
}

// Apply implements Spec.
func (s *SwitchSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Switch failed", s.Server.Range)
}

func (s *SwitchSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return nil, err
	}
	t := nginxTarget(s.Nginx)
	b, err := env.Balancer(ctx, t)
	if err != nil {
		return nil, err
	}
	cur, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
	if err != nil {
		return nil, dsl.At(err, "Container not found", s.Container.Range)
	}
	rec := switchRecord{Engine: ref, Nginx: t, Server: s.Server.Value, Name: trimSlash(cur.Name), NewID: cur.ID,
		DrainTimeout: s.Nginx.DrainTimeout.Value.String()}
	if cur.Config != nil {
		rec.OldID = cur.Config.Labels[dockerx.ReplacesLabel]
	}
	if rec.OldID == "" {
		return nil, fmt.Errorf("%s was not created by a deploy of this plan (it has no %s label): a switch completes a deploy with strategy = \"start-first\"; make this step depend on one", rec.Name, dockerx.ReplacesLabel)
	}
	old, err := cli.ContainerInspect(ctx, rec.OldID)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("cannot inspect the old container %s: %w", short(rec.OldID), err)
	}
	if err != nil || old.State == nil || !old.State.Running {
		rec.Noop = true
		note(fmt.Sprintf("the old container %s is not running: nothing to switch", short(rec.OldID)))
		return mustJSON(rec), nil
	}
	if rec.NewAddr, err = addrOn(ctx, cli, rec.NewID, t, rec.Server); err != nil {
		return nil, err
	}
	members, err := b.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Address == rec.Server {
			rec.WasDown = m.Down
		}
	}
	if err := checkpoint(ctx, mustJSON(rec)); err != nil {
		return nil, err
	}
	// From here on an error leaves the record for the undo, which puts
	// back whatever part was done.
	if err := move(ctx, cli, b, rec.Server, rec.NewAddr, rec.WasDown, old, rec.DrainTimeout, note); err != nil {
		return mustJSON(rec), err
	}
	note(fmt.Sprintf("%s now served by the new container (%s); the old one, %s, stopped once its requests were done", rec.Server, rec.NewAddr, trimSlash(old.Name)))
	return mustJSON(rec), nil
}

// UpToDate reports whether there is nothing to switch: no old container
// of a start-first deploy runs next to the container.
func (s *SwitchSpec) UpToDate(ctx context.Context, env *Env) (bool, string, error) {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return false, "", err
	}
	c, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
	if err != nil {
		return false, "", err
	}
	if c.Config != nil {
		if id := c.Config.Labels[dockerx.ReplacesLabel]; id != "" {
			if old, err := cli.ContainerInspect(ctx, id); err == nil && old.State != nil && old.State.Running {
				return false, fmt.Sprintf("the old container %s still runs next to %s", short(id), shown(s.Container)), nil
			}
		}
	}
	return true, fmt.Sprintf("no old container runs next to %s", shown(s.Container)), nil
}

// short is the 12-character form of a container ID, as docker ps shows it.
func short(id string) string { return id[:min(len(id), 12)] }

// trimSlash drops the leading slash the engine puts on container names.
func trimSlash(name string) string { return strings.TrimPrefix(name, "/") }
