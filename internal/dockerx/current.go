// This file holds Current: the container that stands for a name now,
// whatever an interrupted replacement left.
package dockerx

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// Current reports whether container c already is what Replace(c, s) would
// make of it, so that a deploy can be skipped: it runs, from the image s
// names (compared by ID, so a moved tag counts as a change), with every
// variable of s.Env set to its value. Everything else Replace clones from
// c itself, so nothing else can differ. When it is not current, why says
// what differs, naming variables but never their values (they may be
// secrets). The image must be present (as after preflight).
func Current(ctx context.Context, cli client.APIClient, c container.InspectResponse, s Spec) (current bool, why string, err error) {
	if c.ContainerJSONBase == nil || c.Config == nil {
		return false, "", fmt.Errorf("container %s: the engine returned no config", c.ID)
	}
	if c.State == nil || !c.State.Running {
		return false, "it is not running", nil
	}
	if s.Image != "" {
		img, err := cli.ImageInspect(ctx, s.Image)
		if err != nil {
			return false, "", fmt.Errorf("image %s: %w", s.Image, err)
		}
		if img.ID != c.Image {
			return false, fmt.Sprintf("it runs image %s, not %s (%s)", shortID(c.Image), s.Image, shortID(img.ID)), nil
		}
	}
	env := map[string]string{}
	for _, e := range c.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	var differ []string
	for k, v := range s.Env {
		if got, ok := env[k]; !ok || got != v {
			differ = append(differ, k)
		}
	}
	if len(differ) > 0 {
		sort.Strings(differ)
		return false, fmt.Sprintf("its environment differs in %s", strings.Join(differ, ", ")), nil
	}
	return true, "", nil
}
