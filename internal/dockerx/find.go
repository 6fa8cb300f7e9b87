// This file resolves a plan's container reference (a name or a compose
// service) to one container, and suggests what was meant when none matches.
package dockerx

import (
	"context"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/suggest"
)

// Compose's labels, by which FindContainer resolves a service name to its
// container, as `docker compose` itself does.
const (
	LabelComposeProject = "com.docker.compose.project"
	LabelComposeService = "com.docker.compose.service"
	LabelComposeOneoff  = "com.docker.compose.oneoff"
)

// FindContainer resolves what a plan calls a container. First an exact
// container name or ID (a full ID, or a prefix of at least 12 characters; the
// engine's looser prefix matching is not used, so "a" never means "the
// container whose ID starts with a"). If there is none, the single container
// of the compose service ref (label com.docker.compose.service), in project
// when project is not "" and in any project otherwise; one-off containers
// (`docker compose run`) and Nonstop's own rollback backups do not count.
//
// Several matching containers (a scaled service, the same service in two
// projects) is an error listing them; no match is an error naming close
// container and service names ("did you mean"), since a typo in a plan is the
// usual cause.
func FindContainer(ctx context.Context, cli client.APIClient, ref, project string) (container.InspectResponse, error) {
	if ref == "" {
		return container.InspectResponse{}, fmt.Errorf("find container: empty name")
	}
	c, err := cli.ContainerInspect(ctx, ref)
	switch {
	case err == nil && exactRef(c, ref):
		return c, nil
	case err != nil && !cerrdefs.IsNotFound(err):
		return container.InspectResponse{}, fmt.Errorf("find container %q: %w", ref, err)
	}

	f := filters.NewArgs(filters.Arg("label", LabelComposeService+"="+ref))
	if project != "" {
		f.Add("label", LabelComposeProject+"="+project)
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("find container %q: listing compose service containers: %w", ref, err)
	}
	var cands []container.Summary
	for _, s := range list {
		if strings.EqualFold(s.Labels[LabelComposeOneoff], "true") || slices.ContainsFunc(s.Names, IsBackupName) {
			continue
		}
		cands = append(cands, s)
	}
	switch len(cands) {
	case 1:
		c, err := cli.ContainerInspect(ctx, cands[0].ID)
		if err != nil {
			return container.InspectResponse{}, fmt.Errorf("find container %q: inspecting %s: %w", ref, summaryName(cands[0]), err)
		}
		return c, nil
	case 0:
	default:
		var names []string
		for _, s := range cands {
			names = append(names, fmt.Sprintf("%s (project %s, %s)", summaryName(s), s.Labels[LabelComposeProject], s.State))
		}
		slices.Sort(names)
		hint := "name the container instead"
		if project == "" {
			hint = "set the compose project or name the container instead"
		}
		return container.InspectResponse{}, fmt.Errorf("container %q is ambiguous: compose service %q matches %d containers: %s; %s", ref, ref, len(cands), strings.Join(names, ", "), hint)
	}

	what := fmt.Sprintf("no container named %q and no compose service %q", ref, ref)
	if project != "" {
		what += fmt.Sprintf(" in project %q", project)
	}
	all, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("%s (listing containers for suggestions failed: %v)", what, err)
	}
	if s := suggestions(ref, project, all); len(s) > 0 {
		return container.InspectResponse{}, fmt.Errorf("%s; did you mean %s?", what, strings.Join(s, ", "))
	}
	return container.InspectResponse{}, fmt.Errorf("%s (%d containers on this engine, none with a similar name)", what, len(all))
}

// exactRef tells whether the engine's answer for ref is an exact match: the
// engine also resolves any unique ID prefix, which a plan must not rely on.
func exactRef(c container.InspectResponse, ref string) bool {
	if c.ContainerJSONBase == nil {
		return false
	}
	if strings.TrimPrefix(c.Name, "/") == strings.TrimPrefix(ref, "/") {
		return true
	}
	return c.ID == ref || (len(ref) >= 12 && strings.HasPrefix(c.ID, ref))
}

func summaryName(s container.Summary) string {
	if len(s.Names) > 0 {
		return strings.TrimPrefix(s.Names[0], "/")
	}
	return shortID(s.ID)
}

// suggestions returns the container names and compose services (as "service X in
// project P") close to ref, best first, at most five.
func suggestions(ref, project string, all []container.Summary) []string {
	type cand struct {
		text string
		dist int
	}
	var cands []cand
	seen := map[string]bool{}
	add := func(key, text string) {
		if seen[text] {
			return
		}
		if d, ok := closeTo(ref, key); ok {
			seen[text] = true
			cands = append(cands, cand{text, d})
		}
	}
	for _, s := range all {
		if slices.ContainsFunc(s.Names, IsBackupName) {
			continue
		}
		for _, n := range s.Names {
			n = strings.TrimPrefix(n, "/")
			add(n, fmt.Sprintf("%q", n))
		}
		if svc := s.Labels[LabelComposeService]; svc != "" {
			p := s.Labels[LabelComposeProject]
			text := fmt.Sprintf("service %q in project %q", svc, p)
			if svc == ref && !seen[text] {
				// The service exists, in another project: the likeliest fix.
				seen[text] = true
				cands = append(cands, cand{text, -1})
			}
			add(svc, text)
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.text, b.text)
	})
	var out []string
	for i, c := range cands {
		if i == 5 {
			break
		}
		out = append(out, c.text)
	}
	return out
}

// closeTo says whether name is a plausible intent for ref: a small edit
// distance (internal/suggest's threshold), or one containing the other
// (compose's "project-app-1" for "app").
func closeTo(ref, name string) (int, bool) {
	if d, ok := suggest.Close(ref, name); ok {
		return d, true
	}
	d := suggest.Distance(ref, name)
	a, b := strings.ToLower(ref), strings.ToLower(name)
	if len(a) >= 3 && (strings.Contains(b, a) || strings.Contains(a, b) && len(b) >= 3) {
		return d, true
	}
	return 0, false
}
