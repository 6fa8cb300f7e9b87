// This file holds Skips: which steps of an apply have nothing to do, so
// that re-running an apply that went through changes nothing.
package steps

import (
	"context"
	"slices"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Skips says, before anything changes, which steps have nothing to do,
// so that re-running an apply that already went through changes nothing:
// no container is recreated and nginx is not reloaded. The result has one
// entry per step: why it is skipped, or "" when it runs.
//
//   - A deploy whose container already runs the plan's image and env
//     (DeploySpec.UpToDate) is skipped.
//   - A drain and the restore that ends it are skipped, with everything
//     between them, when the server is in rotation now and everything
//     between them is a skipped deploy or a health check: taking the
//     server out would be for nothing.
//   - A health check is skipped when every step before it is (it would
//     check changes that are not made); one that depends on nothing always
//     runs.
//
// Anything else runs: a drain, restore or weight change that has nothing
// to do finds out by itself and changes nothing (no reload).
func Skips(ctx context.Context, env *Env, g *executor.Graph) []string {
	upToDate := make([]string, len(g.Steps))
	for i, s := range g.Steps {
		u, ok := s.Spec.(UpToDater)
		if !ok {
			continue
		}
		if ok, why, err := u.UpToDate(ctx, env); err == nil && ok {
			upToDate[i] = why
		}
	}
	members := map[NginxTarget][]nginx.Member{}
	inRotation := func(t NginxTarget, server string) bool {
		ms, ok := members[t]
		if !ok {
			if b, err := env.Balancer(ctx, t); err == nil {
				ms, _ = b.Members(ctx)
			}
			members[t] = ms
		}
		for _, m := range ms {
			if m.Address == server {
				return !m.Down
			}
		}
		return false
	}
	return colourSkips(ctx, env, g, skips(g, upToDate, inRotation), upToDate)
}

// skips is Skips once the facts are known: why each deploy is up to date
// ("" if it is not), and whether a server is in rotation now.
func skips(g *executor.Graph, upToDate []string, inRotation func(NginxTarget, string) bool) []string {
	skip := slices.Clone(upToDate)
	o := newOrder(g)
	windows := map[int]window{} // drain step → its window
	seen := map[NginxTarget]bool{}
	for _, s := range g.Steps {
		if m, ok := membershipOf(s.Spec); ok && m.Effect == TakesOut {
			if t := nginxTarget(m.Nginx); !seen[t] {
				seen[t] = true
				for _, w := range o.drains(t) {
					windows[w.step] = w
				}
			}
		}
	}
	for i, s := range g.Steps {
		m, ok := membershipOf(s.Spec)
		if !ok || m.Effect != TakesOut {
			continue
		}
		t := nginxTarget(m.Nginx)
		w, ok := windows[i]
		if !ok || w.restore < 0 || !inRotation(t, w.server) {
			continue
		}
		var between, deploys []int
		for k := range g.Steps {
			if k != i && k != w.restore && o.before(i, k) && o.before(k, w.restore) {
				between = append(between, k)
			}
		}
		empty := true
		for _, k := range between {
			switch g.Steps[k].Spec.(type) {
			case Replacer:
				if skip[k] == "" {
					empty = false
				}
				deploys = append(deploys, k)
			case ChangesNothing:
			default:
				empty = false
			}
		}
		if !empty || len(deploys) == 0 {
			continue
		}
		why := "nothing to deploy behind it: " + skip[deploys[0]]
		if len(deploys) > 1 {
			why = "nothing to deploy behind it: every deploy it covers is up to date"
		}
		skip[i], skip[w.restore] = why, why
		for _, k := range between {
			if skip[k] == "" {
				skip[k] = "it checks a deploy that is skipped"
			}
		}
	}
	// A switch has nothing to do before the apply (no old container runs
	// next to its container), but it will after a start-first deploy: it
	// is skipped only when every deploy before it is.
	for i, s := range g.Steps {
		if _, ok := s.Spec.(StartFirstCompleter); !ok || skip[i] == "" {
			continue
		}
		for a, sa := range g.Steps {
			if _, ok := sa.Spec.(Replacer); ok && o.before(a, i) && skip[a] == "" {
				skip[i] = ""
				break
			}
		}
	}
	// Health checks after nothing but skipped steps.
	for i, s := range g.Steps {
		if _, ok := s.Spec.(ChangesNothing); !ok || skip[i] != "" || len(g.NodeDeps(i)) == 0 {
			continue
		}
		all := true
		for a := range g.Steps {
			if o.before(a, i) && skip[a] == "" {
				all = false
				break
			}
		}
		if all {
			skip[i] = "every step before it is skipped"
		}
	}
	return skip
}
