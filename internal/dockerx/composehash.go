// This file holds the config-hash a deploy gives a compose service's new
// container when the service's compose file already declares what the plan
// deploys: docker-compose's own, so `docker-compose up` sees it as current.
package dockerx

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"gopkg.in/yaml.v3"
)

// ComposeConfigHash asks docker-compose (on PATH: Debian's v1) for the
// config-hash it would give the service's containers now, from its compose
// files as they are, against the engine at host (a DOCKER_HOST value; the
// hash covers the ID of the image the file names, so it must be present).
// Only a local engine (unix://) is asked: the files are on the engine's
// host, and compose's own connection to a remote one is not the plan's.
func ComposeConfigHash(ctx context.Context, host string, cs ComposeService, extraFiles ...string) (string, error) {
	if !strings.HasPrefix(host, "unix://") {
		return "", fmt.Errorf("the engine %s is not local", host)
	}
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		return "", fmt.Errorf("docker-compose is not installed here")
	}
	args := []string{"--project-name", cs.Project}
	if cs.WorkingDir != "" {
		args = append(args, "--project-directory", cs.WorkingDir)
	}
	for _, f := range append(slices.Clone(cs.ConfigFiles), extraFiles...) {
		args = append(args, "--file", f)
	}
	args = append(args, "config", "--hash", cs.Service)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = cs.WorkingDir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker-compose config --hash %s: %v: %s", cs.Service, err, strings.TrimSpace(errOut.String()))
	}
	svc, hash, ok := strings.Cut(strings.TrimSpace(out.String()), " ")
	if !ok || svc != cs.Service || len(hash) != 64 {
		return "", fmt.Errorf("docker-compose config --hash %s answered %q", cs.Service, out.String())
	}
	return hash, nil
}

// ComposeLabels is what a deploy does about a compose service's container
// before replacing it with image and env (see ComposeDrift for shown):
// when the compose file declares exactly that, the config-hash compose
// computes for it (set, to put on the new container) so that `docker-compose
// up` sees the new container as current instead of recreating it undrained;
// otherwise the drift warning. The hash is set only when the file differs
// from old in nothing but the deploy's image and env (onlyDeployDiffers):
// a change of ports, volumes... must still make compose recreate it. note
// is what to tell the user, "" for a container no compose project created.
func ComposeLabels(ctx context.Context, host string, old container.InspectResponse, image, shown string, env map[string]string) (set map[string]string, note string) {
	if old.ContainerJSONBase == nil || old.Config == nil {
		return nil, ""
	}
	name, labels := strings.TrimPrefix(old.Name, "/"), old.Config.Labels
	cs, ok := ComposeServiceOf(labels)
	if !ok {
		return nil, ""
	}
	if w := ComposeDrift(name, labels, image, shown, env); w != "" {
		return nil, w
	}
	if err := onlyDeployDiffers(ctx, host, cs, old, env); err != nil {
		return nil, fmt.Sprintf("warning: %s is compose service %q of project %q, whose compose file declares the plan's image and env; it keeps the old container's config-hash because %v, so the next `docker-compose up` recreates it once, without draining it",
			name, cs.Service, cs.Project, err)
	}
	hash, err := ComposeConfigHash(ctx, host, cs)
	if err != nil {
		return nil, fmt.Sprintf("warning: %s is compose service %q of project %q, whose compose file declares the plan's image and env, but its config-hash cannot be brought up to date (%v): it keeps the old container's, so the next `docker-compose up` recreates it once, from the same image and env, without draining it",
			name, cs.Service, cs.Project, err)
	}
	return map[string]string{LabelComposeConfigHash: hash},
		fmt.Sprintf("%s matches its compose file (service %q of project %q); config-hash set to docker-compose's for it, so `docker-compose up` leaves it as it is", name, cs.Service, cs.Project)
}

// onlyDeployDiffers checks that the compose files, with the service's image
// and the plan's env keys put back to old's, hash to old's config-hash: then
// the image and env are all that the file changed since compose created old,
// and the new container, which has them, is what compose would make.
func onlyDeployDiffers(ctx context.Context, host string, cs ComposeService, old container.InspectResponse, env map[string]string) error {
	oldHash := old.Config.Labels[LabelComposeConfigHash]
	if oldHash == "" {
		return fmt.Errorf("the old container has no config-hash")
	}
	oldEnv := map[string]string{}
	for _, e := range old.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		oldEnv[k] = v
	}
	back := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v, ok := oldEnv[k]
		if !ok {
			return fmt.Errorf("the old container had no %s to compare with", k)
		}
		back[k] = strings.ReplaceAll(v, "$", "$$")
	}
	svc := map[string]any{"image": old.Config.Image}
	if len(back) > 0 {
		svc["environment"] = back
	}
	doc := map[string]any{"services": map[string]any{cs.Service: svc}}
	if v := composeVersion(cs.ConfigFiles[0]); v != "" {
		doc["version"] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "nonstop-compose-*.yml")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	h, err := ComposeConfigHash(ctx, host, cs, f.Name())
	if err != nil {
		return err
	}
	if h != oldHash {
		return fmt.Errorf("the compose file changed more than its image and env since compose created the old container")
	}
	return nil
}

// composeVersion is a compose file's `version` (an override file must
// declare the same), "" when it has none or cannot be read.
func composeVersion(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var doc struct {
		Version string `yaml:"version"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return ""
	}
	return doc.Version
}
