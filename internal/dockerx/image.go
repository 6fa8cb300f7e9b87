// This file holds ImageAvailable and EnsureImage: an image is present, or
// pulled with the docker CLI's credentials, before anything is changed;
// and PinnedImage, the digest of what a container runs.
package dockerx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ImageAvailable makes sure image ref is present on the engine: it is when
// the engine has it already, else it is pulled, with each layer's status
// changes passed to progress (may be nil). Callers run it in preflight, before
// anything changes, so a missing image fails the apply while every container
// still runs as before; Replace itself never pulls.
//
// The error reads "image X is not present and could not be pulled: ..." with
// the registry's or engine's reason (no registry reachable, no such
// repository, not authorized...).
func ImageAvailable(ctx context.Context, cli client.APIClient, ref string, progress func(string)) error {
	return EnsureImage(ctx, cli, ref, PullOptions{Progress: progress})
}

// PullOptions tune EnsureImage.
type PullOptions struct {
	// Always pulls even when the engine has the image (pull = "always"):
	// the tag may have moved in the registry.
	Always bool
	// Progress receives each layer's status changes; may be nil.
	Progress func(string)
}

// EnsureImage is ImageAvailable, pulling even a present image when
// o.Always. Pulls carry the credentials the docker CLI would use for the
// image's registry (see RegistryCredentials).
func EnsureImage(ctx context.Context, cli client.APIClient, ref string, o PullOptions) error {
	progress := o.Progress
	if strings.TrimSpace(ref) == "" {
		return errors.New("image: empty image reference")
	}
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil && !o.Always {
		return nil
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("image %s: cannot check whether it is present: %w", ref, err)
	}
	notPulled := func(err error) error {
		if o.Always {
			return fmt.Errorf("image %s could not be pulled (pull = \"always\"): %w", ref, err)
		}
		return fmt.Errorf("image %s is not present and could not be pulled: %w", ref, err)
	}
	creds, err := RegistryCredentials(ref)
	if err != nil {
		return notPulled(err)
	}
	// refused says which registry and which credentials: the engine's
	// "unauthorized" names neither.
	refused := func(err error) error {
		return notPulled(fmt.Errorf("%w (registry %s, credentials: %s; if they are wrong, `docker login %s`)", err, creds.Registry, creds.From, creds.Registry))
	}
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: creds.Encoded})
	if err != nil {
		return refused(err)
	}
	defer func() { _ = rc.Close() }()
	// The pull reports progress, and its failure, as a stream of JSON
	// messages; the HTTP status is 200 either way.
	last := map[string]string{} // layer ID -> last status reported
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				break
			}
			return notPulled(fmt.Errorf("reading the engine's pull progress: %w", err))
		}
		if m.Error != nil {
			return refused(errors.New(m.Error.Message))
		}
		if m.ErrorMessage != "" { //nolint:staticcheck // older engines send only this
			return refused(errors.New(m.ErrorMessage)) //nolint:staticcheck
		}
		if progress == nil || m.Status == "" || last[m.ID] == m.Status {
			continue // byte-level updates of the same status would flood
		}
		last[m.ID] = m.Status
		if m.ID != "" {
			progress(m.ID + ": " + m.Status)
		} else {
			progress(m.Status)
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return notPulled(fmt.Errorf("the pull ended without error but the engine still has no such image: %w", err))
	}
	return nil
}

// PinnedImage names exactly the image a container runs, for journals: the
// registry digest of its image under ref's repository
// ("registry/name@sha256:..."), else, for an image no registry served (a
// local build), its image ID ("sha256:...").
func PinnedImage(ctx context.Context, cli client.APIClient, containerID, ref string) (string, error) {
	c, err := cli.ContainerInspect(ctx, containerID)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", containerID, err)
	}
	img, err := cli.ImageInspect(ctx, c.Image)
	if err != nil {
		return "", fmt.Errorf("image %s of container %s: %w", c.Image, containerID, err)
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		for _, rd := range img.RepoDigests {
			if d, err := reference.ParseNormalizedNamed(rd); err == nil && d.Name() == named.Name() {
				return rd, nil
			}
		}
	}
	return img.ID, nil
}
