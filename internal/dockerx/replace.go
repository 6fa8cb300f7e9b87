// This file holds the replacement of a container (stop and rename the old,
// start the new), its undo, its finalize and its recovery after a crash.
package dockerx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// defaultStopTimeout is the engine's own default grace period, used when the
// container sets none, so the stop call's wait is bounded the same way.
const defaultStopTimeout = 10

// rollbackTimeout bounds the undo that Replace runs after a failure midway. It
// runs on a context detached from the caller's: a cancelled apply (Ctrl-C)
// must still put the old container back.
const rollbackTimeout = 2 * time.Minute

// Replacement records one container replacement: everything Undo and Finalize
// need, in a form that goes into the apply journal, so a new process (`plan
// rollback` after a crash) can finish or revert it without the old process's
// memory.
type Replacement struct {
	// Name is the original container name (without the leading slash), now
	// the new container's.
	Name string `json:"name"`
	// OldID is the replaced container's ID. IDs survive renames, so Undo and
	// Finalize find the old container by it whatever it is called now.
	OldID string `json:"old_id"`
	// BackupName is what the old container is called while the plan runs.
	BackupName string `json:"backup_name"`
	// NewID is the new container's ID; empty if Replace failed before create.
	NewID string `json:"new_id,omitempty"`
	// OldRunning says whether the old container ran before, so Undo starts it
	// again only if it did.
	OldRunning bool `json:"old_running"`
	// StartFirst: the old container was left running next to the new one
	// (Spec.StartFirst), for the switch step to stop.
	StartFirst bool `json:"start_first,omitempty"`
}

// Replace swaps old for a clone of it (see CloneConfig) with s's image and
// env, keeping old stopped under r.BackupName for Undo until Finalize. The
// steps: rename old to BackupName; create the new container under the
// original name and attach its other networks (old still serves meanwhile);
// stop old gracefully (its own stop signal, its StopTimeout or 10s); start the
// new one. Creating before stopping keeps the window without a running
// container as short as a start, and a create failure never stops old.
//
// Any failure midway is undone before returning (new removed, old renamed
// back and started again if it ran), on a context detached from ctx so a
// cancelled apply still restores; the error says whether that worked. A
// BackupName already in use (an earlier interrupted run) is an error before
// any change. The new image must be present (see ImageAvailable): Replace
// never pulls.
//
// On success the Replacement goes into the journal. On an error whose undo
// worked it is zero (nothing to undo); on an error whose undo failed too it
// describes what is left, so the caller can journal it and `plan rollback`
// can run Undo again later.
func Replace(ctx context.Context, cli client.APIClient, old container.InspectResponse, s Spec) (Replacement, error) {
	if old.ContainerJSONBase == nil || old.ID == "" {
		return Replacement{}, errors.New("replace: no container given (empty inspect result); nothing was changed")
	}
	// Work from the engine's current view: old may come from a preflight
	// long ago, and a stale Running or Name would make Undo wrong.
	cur, err := cli.ContainerInspect(ctx, old.ID)
	if err != nil {
		return Replacement{}, fmt.Errorf("replace %s: cannot inspect container %s: %w; nothing was changed", strings.TrimPrefix(old.Name, "/"), shortID(old.ID), err)
	}
	name := strings.TrimPrefix(cur.Name, "/")
	if cur.Config == nil || cur.HostConfig == nil {
		return Replacement{}, fmt.Errorf("replace %s: the engine returned no config for it; nothing was changed", name)
	}
	if old.Name != "" && cur.Name != old.Name {
		return Replacement{}, fmt.Errorf("replace %s: the container was renamed to %s since it was looked up; nothing was changed", strings.TrimPrefix(old.Name, "/"), name)
	}
	if IsBackupName(name) {
		return Replacement{}, fmt.Errorf("replace %s: this is a backup Nonstop keeps for rollback, not a live container; nothing was changed", name)
	}
	if cur.HostConfig.AutoRemove {
		return Replacement{}, fmt.Errorf("replace %s: it was started with --rm (AutoRemove), so stopping it would delete it and leave nothing to roll back to; recreate it without --rm first. Nothing was changed", name)
	}
	r := Replacement{
		Name:       name,
		OldID:      cur.ID,
		BackupName: BackupName(name, cur.ID),
		OldRunning: cur.State != nil && cur.State.Running,
	}
	if b, err := cli.ContainerInspect(ctx, r.BackupName); err == nil {
		return Replacement{}, fmt.Errorf("replace %s: a container named %s (%s) already exists, left by an earlier deploy that did not finish; run `plan rollback` to restore it, or remove it if that deploy is known good. Nothing was changed", name, r.BackupName, shortID(b.ID))
	} else if !cerrdefs.IsNotFound(err) {
		return Replacement{}, fmt.Errorf("replace %s: cannot check for a leftover backup %s: %w; nothing was changed", name, r.BackupName, err)
	}

	oldImg, err := cli.ImageInspect(ctx, cur.Image)
	if err != nil {
		return Replacement{}, fmt.Errorf("replace %s: cannot inspect its current image %s (needed to tell the image's defaults from its own settings): %w; nothing was changed", name, shortID(cur.Image), err)
	}
	if s.Image == "" {
		// Keep the image: by its name if that still means the same image,
		// else by ID (the tag has moved on since the container was created).
		s.Image = cur.Image
		if tagged, err := cli.ImageInspect(ctx, cur.Config.Image); err == nil && tagged.ID == cur.Image {
			s.Image = cur.Config.Image
		}
	}
	newImg, err := cli.ImageInspect(ctx, s.Image)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Replacement{}, fmt.Errorf("replace %s: image %s is not present on the engine (it should have been pulled in preflight); nothing was changed, %s is as it was", name, s.Image, name)
		}
		return Replacement{}, fmt.Errorf("replace %s: cannot inspect image %s: %w; nothing was changed", name, s.Image, err)
	}
	cfg, hc, netCfg, extra := CloneConfig(cur, oldImg, newImg, s)

	// fail undoes whatever was done so far; Undo tolerates the steps that
	// were not reached.
	fail := func(what string, cause error) (Replacement, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		if uerr := Undo(rctx, cli, r); uerr != nil {
			return r, fmt.Errorf("replace %s: %s: %w; undoing it FAILED too: %v", name, what, cause, uerr)
		}
		state := "stopped, as it was"
		if r.OldRunning {
			state = "running again"
		}
		return Replacement{}, fmt.Errorf("replace %s: %s: %w; undone: the old container is back under its name, %s, and no new container is left", name, what, cause, state)
	}

	if s.Checkpoint != nil {
		if err := s.Checkpoint(r); err != nil {
			return Replacement{}, fmt.Errorf("replace %s: %w; nothing was changed", name, err)
		}
	}
	if err := cli.ContainerRename(ctx, r.OldID, r.BackupName); err != nil {
		return Replacement{}, fmt.Errorf("replace %s: cannot rename it to %s: %w; nothing was changed", name, r.BackupName, err)
	}
	created, err := cli.ContainerCreate(ctx, cfg, hc, netCfg, nil, name)
	if err != nil {
		return fail("cannot create the new container", err)
	}
	r.NewID = created.ID
	for _, netName := range sortedKeys(extra) {
		if err := cli.NetworkConnect(ctx, netName, r.NewID, extra[netName]); err != nil {
			return fail(fmt.Sprintf("cannot attach the new container to network %s", netName), err)
		}
	}
	if r.OldRunning && !s.StartFirst {
		err := StopGracefully(ctx, cli, cur)
		if err == nil {
			err = ctx.Err() // cancelled meanwhile: do not go on to start
		}
		if err != nil {
			return fail("cannot stop the old container", err)
		}
	}
	r.StartFirst = s.StartFirst && r.OldRunning
	if err := cli.ContainerStart(ctx, r.NewID, container.StartOptions{}); err != nil {
		return fail("cannot start the new container", err)
	}
	return r, nil
}

// StopGracefully stops c the way `docker stop` would: its own stop signal,
// then SIGKILL after its StopTimeout (the engine's 10s when unset). The
// engine sends the container's StopSignal itself; Signal is only sent on
// API >= 1.42 and is the same value there. The stop is not abandoned when
// ctx ends (the engine would go on stopping while the caller decides
// what to do next); it is bounded by the grace period instead.
func StopGracefully(ctx context.Context, cli client.APIClient, c container.InspectResponse) error {
	timeout := defaultStopTimeout
	var signal string
	if c.Config != nil {
		if c.Config.StopTimeout != nil {
			timeout = *c.Config.StopTimeout
		}
		signal = c.Config.StopSignal
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(max(timeout, 0))*time.Second+time.Minute)
	defer cancel()
	return cli.ContainerStop(sctx, c.ID, container.StopOptions{Signal: signal, Timeout: &timeout})
}

// Undo reverts a Replacement: it force-removes the new container, renames the
// old one back to its name and starts it if it was running. Each step checks
// what is already done, so Undo is safe to run twice, after a crash at any
// point of Replace, or from another process. The old container is checked
// first: if it is gone (already finalized), the new one is left in place,
// since removing it would leave no container at all.
func Undo(ctx context.Context, cli client.APIClient, r Replacement) error {
	if r.OldID == "" || r.Name == "" {
		return errors.New("undo: the replacement record has no old container ID or name; nothing was changed")
	}
	old, err := cli.ContainerInspect(ctx, r.OldID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("undo %s: the old container %s no longer exists (finalized or removed by hand), so there is nothing to go back to; the new container was left as it is", r.Name, shortID(r.OldID))
		}
		return fmt.Errorf("undo %s: cannot inspect the old container %s: %w; nothing was changed", r.Name, shortID(r.OldID), err)
	}

	newIDs := []string{r.NewID}
	if r.NewID == "" {
		// Replace may have died between create and recording NewID: the
		// new container is the one labelled as replacing ours. Nothing
		// else is ours to remove.
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", ReplacesLabel+"="+r.OldID))})
		if err != nil {
			return fmt.Errorf("undo %s: cannot look for the new container (label %s=%s): %w; the old container %s is still %s", r.Name, ReplacesLabel, shortID(r.OldID), err, shortID(r.OldID), describe(old))
		}
		newIDs = newIDs[:0]
		for _, c := range list {
			newIDs = append(newIDs, c.ID)
		}
	}
	removed := "no new container was left"
	for _, newID := range newIDs {
		if newID == "" || newID == r.OldID {
			continue
		}
		err := cli.ContainerRemove(ctx, newID, container.RemoveOptions{Force: true})
		switch {
		case err == nil:
			removed = fmt.Sprintf("the new container %s was removed", shortID(newID))
		case cerrdefs.IsNotFound(err):
		default:
			return fmt.Errorf("undo %s: cannot remove the new container %s: %w; the old container %s is still %s", r.Name, shortID(newID), err, shortID(r.OldID), describe(old))
		}
	}

	if strings.TrimPrefix(old.Name, "/") != r.Name {
		if err := cli.ContainerRename(ctx, r.OldID, r.Name); err != nil {
			return fmt.Errorf("undo %s: %s, but renaming the old container %s back to %s failed: %w; it is still %s", r.Name, removed, shortID(r.OldID), r.Name, err, describe(old))
		}
	}
	if r.OldRunning && (old.State == nil || !old.State.Running) {
		if err := cli.ContainerStart(ctx, r.OldID, container.StartOptions{}); err != nil {
			return fmt.Errorf("undo %s: %s and the old container is back under its name, but starting it failed: %w; it is stopped", r.Name, removed, err)
		}
		// It served before the deploy: let it listen again before the
		// undo of the drain puts it back, or nginx counts it failed (and
		// sends it nothing for fail_timeout).
		WaitListening(ctx, cli, r.OldID, ListenWait)
	}
	return nil
}

// ListenWait bounds how long Undo waits for a restarted container to
// accept connections on its exposed TCP ports.
var ListenWait = 20 * time.Second

// WaitListening waits until the container accepts TCP connections on every
// port it exposes, at its address on each of its networks' first one, for
// at most max; it gives up early if the container stops or has no address
// or port. Best effort: the container is running either way.
func WaitListening(ctx context.Context, cli client.APIClient, id string, max time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	c, err := cli.ContainerInspect(ctx, id)
	if err != nil || c.Config == nil || c.NetworkSettings == nil {
		return
	}
	ip := ""
	for _, name := range sortedKeys(c.NetworkSettings.Networks) {
		if ep := c.NetworkSettings.Networks[name]; ep != nil && ep.IPAddress != "" {
			ip = ep.IPAddress
			break
		}
	}
	var ports []string
	for p := range c.Config.ExposedPorts {
		if p.Proto() == "tcp" {
			ports = append(ports, p.Port())
		}
	}
	if ip == "" || len(ports) == 0 {
		return
	}
	d := net.Dialer{Timeout: time.Second}
	for _, port := range ports {
		for {
			conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
			if err == nil {
				_ = conn.Close() // a probe: the connection carried nothing
				break
			}
			if ctx.Err() != nil {
				return
			}
			if running, _, err := Running(ctx, cli, id); err != nil || !running {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Finalize makes a Replacement permanent by removing the old (backup)
// container; its volumes are kept, since the new container mounts them. A
// backup already gone is fine. It refuses to remove the old container when
// it is back under the original name (the replacement was undone) or running
// (someone started it), since then it is not a backup any more.
func Finalize(ctx context.Context, cli client.APIClient, r Replacement) error {
	if r.OldID == "" {
		return errors.New("finalize: the replacement record has no old container ID; nothing was changed")
	}
	old, err := cli.ContainerInspect(ctx, r.OldID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("finalize %s: cannot inspect the backup %s: %w; it was left in place", r.Name, r.BackupName, err)
	}
	if n := strings.TrimPrefix(old.Name, "/"); n == r.Name {
		return fmt.Errorf("finalize %s: refusing to remove container %s: it is back under its original name (the replacement was undone), so it is the live one, not a backup", r.Name, shortID(r.OldID))
	}
	if old.State != nil && old.State.Running {
		return fmt.Errorf("finalize %s: refusing to remove the backup %s: it is running (something started it after the deploy); it was left in place", r.Name, strings.TrimPrefix(old.Name, "/"))
	}
	if err := cli.ContainerRemove(ctx, r.OldID, container.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("finalize %s: cannot remove the backup %s: %w; it was left in place (stopped)", r.Name, strings.TrimPrefix(old.Name, "/"), err)
	}
	return nil
}

// describe renders a container's name and state for error messages about
// the state things are left in.
func describe(c container.InspectResponse) string {
	s := "in an unknown state"
	if c.State != nil {
		s = stateText(c.State)
	}
	return fmt.Sprintf("%s under the name %s", s, strings.TrimPrefix(c.Name, "/"))
}

// recoverMargin is how long Recover waits, beyond the old container's stop
// timeout, for a stop that the engine may still be carrying out.
const recoverMargin = 5 * time.Second

// Recover undoes a Replace that was cut short (its process died) after r
// was recorded by Spec.Checkpoint, whatever point it had reached. If the
// old container still has its name, Replace had changed nothing and
// neither does Recover. Otherwise the engine may still be stopping the
// old container for the dead process (the engine finishes a stop whose
// client went away): Recover waits for that stop, up to the container's
// stop timeout plus a margin, so that Undo neither starts a container
// that is about to exit nor takes a running one for a stopped one. Then
// it runs Undo: the new container (found by its label if r has no NewID)
// is removed, the old one renamed back and started if it ran.
func Recover(ctx context.Context, cli client.APIClient, r Replacement) error {
	if r.OldID == "" || r.Name == "" {
		return errors.New("recover: the replacement record has no old container ID or name; nothing was changed")
	}
	old, err := cli.ContainerInspect(ctx, r.OldID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("recover %s: the old container %s no longer exists, so there is nothing to go back to; check %s by hand", r.Name, shortID(r.OldID), r.Name)
		}
		return fmt.Errorf("recover %s: cannot inspect the old container %s: %w; nothing was changed", r.Name, shortID(r.OldID), err)
	}
	if strings.TrimPrefix(old.Name, "/") == r.Name {
		return nil // interrupted before the rename: nothing changed
	}
	if old.State != nil && old.State.Running {
		timeout := defaultStopTimeout
		if old.Config != nil && old.Config.StopTimeout != nil {
			timeout = max(*old.Config.StopTimeout, 0)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(timeout)*time.Second+recoverMargin)
		waitC, errC := cli.ContainerWait(wctx, r.OldID, container.WaitConditionNotRunning)
		select {
		case <-waitC:
		case <-errC: //nolint:errcheck // timed out (it is not being stopped) or gone: Undo looks again
		}
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("recover %s: %w; nothing was changed", r.Name, ctx.Err())
		}
	}
	return Undo(ctx, cli, r)
}
