// This file holds ImageAvailable: an image is present, or pulled, before
// anything is changed.
package dockerx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
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
	if strings.TrimSpace(ref) == "" {
		return errors.New("image: empty image reference")
	}
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("image %s: cannot check whether it is present: %w", ref, err)
	}
	notPulled := func(err error) error {
		return fmt.Errorf("image %s is not present and could not be pulled: %w", ref, err)
	}
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return notPulled(err)
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
			return notPulled(errors.New(m.Error.Message))
		}
		if m.ErrorMessage != "" { //nolint:staticcheck // older engines send only this
			return notPulled(errors.New(m.ErrorMessage)) //nolint:staticcheck
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
