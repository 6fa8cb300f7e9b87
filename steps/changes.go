// This file holds the Previewer capability: what a step would change,
// read from the live engine and nginx without changing them, for
// `plan apply -dry-run`. deploy shows the container's image and env
// before → after; drain, restore and weight show the upstream's server
// line before → after.
package steps

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Unset stands for an env key the live container does not have.
const Unset = "(unset)"

// ChangeItem is one thing a step would change: what, as it is now, as the
// plan wants it. Sensitive values are "(sensitive)" on both sides.
type ChangeItem struct {
	What   string `json:"what"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// String is the item as one line: `what before → after`.
func (c ChangeItem) String() string {
	return fmt.Sprintf("%s %s → %s", c.What, c.Before, c.After)
}

// Change is what a step would change against what runs now; no items
// means the live state already matches on what the step looks at.
type Change struct {
	Items []ChangeItem `json:"items"`
}

// String joins the items with "; ".
func (c Change) String() string {
	var parts []string
	for _, it := range c.Items {
		parts = append(parts, it.String())
	}
	return strings.Join(parts, "; ")
}

// Previewer is a Spec that can say what it would change, reading the live
// engine or nginx and changing nothing. It is asked after the preflight
// passed, so what it reads exists.
type Previewer interface {
	Preview(ctx context.Context, env *Env) (Change, error)
}

// Preview implements Previewer: the container's image (name and ID) and
// the env keys the plan sets whose value would change.
func (s *DeploySpec) Preview(ctx context.Context, env *Env) (Change, error) {
	cli, ref, err := env.engineFor(ctx, s.Engine)
	if err != nil {
		return Change{}, err
	}
	c, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
	if err != nil {
		return Change{}, err
	}
	var ch Change
	oldImage := Unset
	live := map[string]string{}
	if c.Config != nil {
		oldImage = c.Config.Image
		for _, kv := range c.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			live[k] = v
		}
	}
	if s.Image.Sensitive {
		oldImage = "(sensitive)"
	}
	if c.Image != "" {
		oldImage += " (" + c.Image + ")"
	}
	ch.Items = append(ch.Items, ChangeItem{What: "image", Before: oldImage, After: shown(s.Image)})
	for _, k := range slices.Sorted(maps.Keys(s.Env.Value)) {
		want := s.Env.Value[k]
		have, ok := live[k]
		if ok && have == want {
			continue
		}
		before, after := Unset, fmt.Sprintf("%q", want)
		if ok {
			before = fmt.Sprintf("%q", have)
		}
		if s.Env.Sensitive {
			before, after = "(sensitive)", "(sensitive)"
		}
		ch.Items = append(ch.Items, ChangeItem{What: "env " + k, Before: before, After: after})
	}
	return ch, nil
}

// Preview implements Previewer: the server line now → marked down.
func (s *DrainSpec) Preview(ctx context.Context, env *Env) (Change, error) {
	return previewMember(ctx, env, s.Nginx, s.Server, func(m *nginx.Member) { m.Down = true })
}

// Preview implements Previewer: the server line → back in rotation. A
// restore runs only after its drain; when the server is in rotation now,
// the line before is the one the drain leaves.
func (s *RestoreSpec) Preview(ctx context.Context, env *Env) (Change, error) {
	ch, err := previewMember(ctx, env, s.Nginx, s.Server, func(m *nginx.Member) { m.Down = false })
	if err == nil && len(ch.Items) == 1 && ch.Items[0].Before == ch.Items[0].After {
		ch.Items[0].Before = strings.TrimSuffix(ch.Items[0].After, ";") + " down; (after the drain)"
	}
	return ch, err
}

// Preview implements Previewer: the server line now → with the new weight.
func (s *WeightSpec) Preview(ctx context.Context, env *Env) (Change, error) {
	return previewMember(ctx, env, s.Nginx, s.Server, func(m *nginx.Member) {
		m.Weight = int(s.Weight.Value)
		if m.Weight == 1 {
			m.Weight = 0 // nginx's default: the step removes weight=
		}
	})
}

// previewMember reads the server's line in its upstream and applies to a
// copy of it what the step would do.
func previewMember(ctx context.Context, env *Env, n *dsl.Nginx, server dsl.String, apply func(*nginx.Member)) (Change, error) {
	b, err := env.Balancer(ctx, nginxTarget(n))
	if err != nil {
		return Change{}, err
	}
	ms, err := b.Members(ctx)
	if err != nil {
		return Change{}, err
	}
	for _, m := range ms {
		if m.Address != server.Value {
			continue
		}
		after := m
		apply(&after)
		return Change{Items: []ChangeItem{{What: "upstream " + n.Upstream.Value + ":", Before: ServerLine(m), After: ServerLine(after)}}}, nil
	}
	return Change{}, fmt.Errorf("upstream %q has no server %s", n.Upstream.Value, server.Value)
}

// ServerLine is a member as nginx's config line says it.
func ServerLine(m nginx.Member) string {
	var b strings.Builder
	b.WriteString("server " + m.Address)
	if m.Weight != 0 {
		fmt.Fprintf(&b, " weight=%d", m.Weight)
	}
	if m.Backup {
		b.WriteString(" backup")
	}
	if m.Down {
		b.WriteString(" down")
	}
	b.WriteString(";")
	return b.String()
}
