// This file runs the deploy step: preflight, the replacement, its undo,
// recovery and finalize, and the journal record pinning the image.
package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
)

// deployRecord is what a completed deploy leaves for its undo and finalize.
type deployRecord struct {
	Engine      EngineRef           `json:"engine"`
	Replacement dockerx.Replacement `json:"replacement"`
	Image       string              `json:"image"`
	// ImageDigest pins what the new container runs (dockerx.PinnedImage).
	ImageDigest string `json:"image_digest,omitempty"`
	// OldImage and OldImageID are what the replaced container ran: the
	// name it was created from (left out when the plan's image is
	// sensitive) and the image's ID, so an audit knows both sides.
	OldImage   string `json:"old_image,omitempty"`
	OldImageID string `json:"old_image_id,omitempty"`
}

// Undo implements Type: the old container back in place of the new one.
func (Deploy) Undo(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	return replacementStep(ctx, env, raw, note, dockerx.Undo)
}

// Recover implements Recoverer: a deploy cut short mid-way is undone by
// looking at what is there (dockerx.Recover), not by its record alone.
func (Deploy) Recover(ctx context.Context, env *Env, raw json.RawMessage, note func(string)) error {
	return replacementStep(ctx, env, raw, note, dockerx.Recover)
}

// Finalize implements Finalizer: once the apply succeeded, the old
// container kept for rollback is removed.
func (Deploy) Finalize(ctx context.Context, env *Env, raw json.RawMessage) error {
	rec, err := decodeRecord[deployRecord](raw)
	if err != nil {
		return err
	}
	cli, err := env.Engine(ctx, rec.Engine.Endpoint)
	if err != nil {
		return err
	}
	return dockerx.Finalize(ctx, cli, rec.Replacement)
}

// replacementStep is the undo (dockerx.Undo) or the recovery of a deploy
// cut short (dockerx.Recover) from its record: both put the old container
// back.
func replacementStep(ctx context.Context, env *Env, raw json.RawMessage, note func(string), fn func(context.Context, client.APIClient, dockerx.Replacement) error) error {
	rec, err := decodeRecord[deployRecord](raw)
	if err != nil {
		return err
	}
	cli, err := env.Engine(ctx, rec.Engine.Endpoint)
	if err != nil {
		return err
	}
	if err := fn(ctx, cli, rec.Replacement); err != nil {
		return err
	}
	note(fmt.Sprintf("%s is the old container again", rec.Replacement.Name))
	return nil
}

// engineFor is the client of the engine a step's `engine` (or the plan's
// only docker block) names, and the reference its records keep.
func (e *Env) engineFor(ctx context.Context, d *dsl.Docker) (*client.Client, EngineRef, error) {
	ref := engineRef(d)
	cli, err := e.Engine(ctx, ref.Endpoint)
	return cli, ref, err
}

// Preflight implements Spec: the container exists and the image is
// there (or can be pulled), before anything changes.
func (s *DeploySpec) Preflight(ctx context.Context, env *Env) []error {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return []error{err}
	}
	var errs []error
	if _, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject); err != nil {
		errs = append(errs, dsl.At(err, "Container not found", s.Container.Range))
	}
	if s.Pull.Value == "always" { // the registry must serve it, with the CLI's credentials
		if _, err := dockerx.CheckPull(ctx, cli, s.Image.Value); err != nil {
			errs = append(errs, dsl.At(err, "Image cannot be pulled", s.Image.Range))
		}
		return errs
	}
	if _, err := cli.ImageInspect(ctx, s.Image.Value); err == nil {
		return errs
	}
	if s.Pull.Value == "never" {
		return append(errs, dsl.At(fmt.Errorf("image %q is not present and pull = \"never\"", shown(s.Image)), "Image not present", s.Image.Range))
	}
	if err := dockerx.ImageAvailable(ctx, cli, s.Image.Value, func(string) {}); err != nil {
		errs = append(errs, dsl.At(err, "Image not available", s.Image.Range))
	}
	return errs
}

// Apply implements Spec.
func (s *DeploySpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Deploy failed", s.Container.Range)
}

func (s *DeploySpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return nil, err
	}
	old, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
	if err != nil {
		return nil, dsl.At(err, "Container not found", s.Container.Range)
	}
	if err := dockerx.EnsureImage(ctx, cli, s.Image.Value, dockerx.PullOptions{Always: s.Pull.Value == "always", Progress: note}); err != nil {
		return nil, dsl.At(err, "Image not available", s.Image.Range)
	}
	labels := map[string]string{dockerx.LabelApplied: time.Now().UTC().Format(time.RFC3339)}
	if !s.Image.Sensitive {
		labels[dockerx.LabelImage] = s.Image.Value
	}
	set, composeNote := dockerx.ComposeLabels(ctx, cli.DaemonHost(), old, s.Image.Value, shown(s.Image), s.Env.Value)
	maps.Copy(labels, set)
	r, err := dockerx.Replace(ctx, cli, old, dockerx.Spec{Image: s.Image.Value, Env: s.Env.Value, StartFirst: s.StartFirst(), Labels: labels,
		Checkpoint: func(r dockerx.Replacement) error {
			return checkpoint(ctx, mustJSON(deployRecord{Engine: ref, Replacement: r, Image: shown(s.Image)}))
		}})
	if err != nil {
		if r.OldID != "" { // Replace could not undo its partial work: r says what is left
			return mustJSON(deployRecord{Engine: ref, Replacement: r, Image: shown(s.Image)}), err
		}
		return nil, err
	}
	if r.StartFirst {
		note(fmt.Sprintf("%s started from %s next to the old container, now %s, which keeps serving until the switch", r.Name, shown(s.Image), r.BackupName))
	} else {
		note(fmt.Sprintf("%s recreated from %s (old container kept as %s until the apply succeeds)", r.Name, shown(s.Image), r.BackupName))
	}
	if composeNote != "" {
		note(composeNote)
	}
	pinned, err := dockerx.PinnedImage(ctx, cli, r.NewID, s.Image.Value)
	if err != nil {
		note("cannot pin the image by digest: " + err.Error())
	} else if _, d, ok := strings.Cut(pinned, "@"); ok && s.Image.Sensitive {
		pinned = d // the digest, not the sensitive name
	}
	rec := deployRecord{Engine: ref, Replacement: r, Image: shown(s.Image), ImageDigest: pinned, OldImageID: old.Image}
	if old.Config != nil && !s.Image.Sensitive {
		rec.OldImage = old.Config.Image
	}
	return mustJSON(rec), nil
}

// UpToDate reports whether the container already runs the plan's image
// and env (see dockerx.Current), so that deploying it again would recreate
// it for nothing. why says what differs, naming no values.
func (s *DeploySpec) UpToDate(ctx context.Context, env *Env) (bool, string, error) {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return false, "", err
	}
	c, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
	if err != nil {
		return false, "", err
	}
	ok, why, err := dockerx.Current(ctx, cli, c, dockerx.Spec{Image: s.Image.Value, Env: s.Env.Value})
	if err != nil || !ok {
		return false, why, err
	}
	return true, fmt.Sprintf("%s already runs %s with the plan's env", shown(s.Container), shown(s.Image)), nil
}
