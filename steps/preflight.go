package steps

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// Preflight checks, before anything changes, everything a plan's apply
// will rely on: every engine answers, every container and image exists,
// every nginx config parses, holds the upstream and server lines the plan
// names, and passes `nginx -t`, and no drain leaves an upstream without a
// server to answer. It returns every problem, not the first; an engine that
// does not answer is reported once, not once per step that uses it.
func Preflight(ctx context.Context, env *Env, p *dsl.Plan, g *executor.Graph) []error {
	var errs []error
	down := map[dockerx.Endpoint]bool{} // engines that do not answer
	engine := func(host dockerx.Endpoint) bool {
		if ok, seen := down[host]; seen {
			return !ok
		}
		_, err := env.Engine(host)
		down[host] = err != nil
		if err != nil {
			errs = append(errs, err)
		}
		return err == nil
	}
	for _, s := range p.Steps {
		r, ok := s.Spec.(Runnable)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: step type %q cannot run", s.Addr, s.Type))
			continue
		}
		if h, uses := engineOf(s.Spec); uses && !engine(h) {
			continue
		}
		for _, err := range r.Preflight(ctx, env) {
			errs = append(errs, fmt.Errorf("%s: %w", s.Addr, err))
		}
	}
	// One check per upstream, with every server the plan touches in it.
	servers := map[NginxTarget]map[string]bool{}
	for _, s := range p.Steps {
		n, server := membershipOf(s.Spec)
		if n == nil {
			continue
		}
		t := nginxTarget(n)
		if servers[t] == nil {
			servers[t] = map[string]bool{}
		}
		servers[t][server] = true
	}
	targets := make([]NginxTarget, 0, len(servers))
	for t := range servers {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool {
		return targets[i].Config+targets[i].Upstream < targets[j].Config+targets[j].Upstream
	})
	var o *order
	for _, t := range targets {
		if t.Container != "" && !engine(t.Engine.Endpoint) {
			continue
		}
		b, err := env.Balancer(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("nginx (%s): %w", t.Config, err))
			continue
		}
		var list []string
		for s := range servers[t] {
			list = append(list, s)
		}
		sort.Strings(list)
		if err := b.Check(ctx, list); err != nil {
			errs = append(errs, fmt.Errorf("nginx upstream %q in %s: %w", t.Upstream, t.Config, err))
			continue
		}
		if g != nil {
			if o == nil {
				o = newOrder(g)
			}
			errs = append(errs, outages(ctx, b, t, o)...)
		}
	}
	return errs
}

// engineOf is the Docker engine a step needs, if any.
func engineOf(spec dsl.Spec) (dockerx.Endpoint, bool) {
	switch sp := spec.(type) {
	case *DeploySpec:
		return engineRef(sp.Engine).Endpoint, true
	case *HealthCheckSpec:
		return engineRef(sp.Engine).Endpoint, true
	case *SwitchSpec:
		return engineRef(sp.Engine).Endpoint, true
	}
	return dockerx.Endpoint{}, false
}

// membershipOf is the nginx and server of a step that changes upstream
// membership (drain, restore, weight).
func membershipOf(spec dsl.Spec) (*dsl.Nginx, string) {
	switch sp := spec.(type) {
	case *DrainSpec:
		return sp.Nginx, sp.Server.Value
	case *RestoreSpec:
		return sp.Nginx, sp.Server.Value
	case *WeightSpec:
		return sp.Nginx, sp.Server.Value
	case *SwitchSpec:
		return sp.Nginx, sp.Server.Value
	}
	return nil, ""
}

// outages refuses drains that would leave the upstream with no server to
// send requests to: the upstream's only server, or the last one up, or
// servers drained at the same time (steps that no restore orders apart,
// such as the targets of one rollout batch) that together are all of it.
// nginx answers 502 for as long as that lasts: an outage, the one thing a
// plan must not do.
func outages(ctx context.Context, b nginx.Membership, t NginxTarget, o *order) []error {
	g := o.g
	members, err := b.Members(ctx)
	if err != nil {
		return []error{fmt.Errorf("nginx upstream %q in %s: %w", t.Upstream, t.Config, err)}
	}
	drains := o.drains(t)
	if len(drains) == 0 {
		return nil
	}
	restores := o.restores(t)
	// A server down now serves during drain d if the plan restores it
	// before d (blue/green: green comes in, then blue goes out).
	restoredBefore := func(server string, d int) bool {
		return slices.ContainsFunc(restores[server], func(r int) bool { return o.before(r, d) })
	}
	var errs []error
	reported := map[string]bool{} // one error per set of servers out together
	for _, d := range drains {
		out := map[string]string{g.Steps[d.step].Addr: d.server} // step → server it takes out
		for _, e := range drains {
			if e.step != d.step && o.overlap(d, e) {
				out[g.Steps[e.step].Addr] = e.server
			}
		}
		taken := map[string]bool{}
		for _, s := range out {
			taken[s] = true
		}
		key := strings.Join(slices.Sorted(maps.Keys(taken)), " ")
		if reported[key] {
			continue
		}
		serving := 0
		var alreadyDown []string
		for _, m := range members {
			switch {
			case taken[m.Address]:
			case m.Down && !restoredBefore(m.Address, d.step):
				alreadyDown = append(alreadyDown, m.Address)
			default:
				serving++
			}
		}
		if serving > 0 {
			continue
		}
		var why string
		switch {
		case len(members) == 1:
			why = "it is the upstream's only server: draining it means no server answers until it is back (nginx answers 502). Either deploy it start-first instead (strategy = \"start-first\" on the deploy and a switch step after its health check, no drain: the new container starts next to the old one and takes over), or add a second replica to the upstream and roll them one at a time"
		case len(out) > 1:
			var others []string
			for step, s := range out {
				if step != g.Steps[d.step].Addr {
					others = append(others, fmt.Sprintf("%s (%s)", s, step))
				}
			}
			sort.Strings(others)
			why = fmt.Sprintf("it is drained at the same time as %s, and together they are every server of the upstream: nothing would answer meanwhile. Drain fewer at once (a smaller batch_size, or make the steps depend on each other's restore)", strings.Join(others, ", "))
		default:
			why = fmt.Sprintf("it is the last server not marked down (%s already down): draining it leaves no server to answer. Put another server back first", strings.Join(alreadyDown, ", "))
		}
		reported[key] = true
		errs = append(errs, fmt.Errorf("%s: draining %q would leave upstream %q in %s with no server to send requests to: %s",
			g.Steps[d.step].Addr, d.server, t.Upstream, t.Config, why))
	}
	return errs
}

// order answers "does step a always finish before step b starts?" for the
// step graph: every step's ancestors as a bitset, computed in one pass in
// dependency order (a 10,000-step plan takes about 12 MB and milliseconds).
type order struct {
	g     *executor.Graph
	words int
	anc   []uint64 // anc[i*words : (i+1)*words] are step i's ancestors
}

func newOrder(g *executor.Graph) *order {
	n := len(g.Steps)
	o := &order{g: g, words: (n + 63) / 64}
	o.anc = make([]uint64, n*o.words)
	for _, st := range g.Order() {
		i := g.Index(st.Addr)
		row := o.anc[i*o.words : (i+1)*o.words]
		for _, d := range g.Deps(i) {
			row[d/64] |= 1 << (d % 64)
			for w, v := range o.anc[d*o.words : (d+1)*o.words] {
				row[w] |= v
			}
		}
	}
	return o
}

// before reports whether b (transitively) depends on a.
func (o *order) before(a, b int) bool { return o.anc[b*o.words+a/64]&(1<<(a%64)) != 0 }

// window is a drain and the restore that ends it (-1: none, the server
// stays out until the end of the plan).
type window struct {
	step, restore int
	server        string
}

// drains lists the drain steps of one upstream, each with its restore: the
// first restore of the same server that depends on it.
func (o *order) drains(t NginxTarget) []window {
	restores := o.restores(t)
	var out []window
	for i, s := range o.g.Steps {
		sp, ok := s.Spec.(*DrainSpec)
		if !ok || sp.Nginx == nil || nginxTarget(sp.Nginx) != t {
			continue
		}
		w := window{step: i, restore: -1, server: sp.Server.Value}
		for _, j := range restores[w.server] {
			if o.before(i, j) && (w.restore < 0 || o.before(j, w.restore)) {
				w.restore = j
			}
		}
		out = append(out, w)
	}
	return out
}

// restores indexes the restore steps of one upstream by server.
func (o *order) restores(t NginxTarget) map[string][]int {
	out := map[string][]int{}
	for i, st := range o.g.Steps {
		if rs, ok := st.Spec.(*RestoreSpec); ok && rs.Nginx != nil && nginxTarget(rs.Nginx) == t {
			out[rs.Server.Value] = append(out[rs.Server.Value], i)
		}
	}
	return out
}

// overlap reports whether two drains can have their servers out at the
// same time: neither is restored before the other starts.
func (o *order) overlap(a, b window) bool {
	return !(a.restore >= 0 && o.before(a.restore, b.step)) && !(b.restore >= 0 && o.before(b.restore, a.step))
}

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
		var u interface {
			UpToDate(context.Context, *Env) (bool, string, error)
		}
		switch sp := s.Spec.(type) {
		case *DeploySpec:
			u = sp
		case *SwitchSpec:
			u = sp
		default:
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
			if b, err := env.Balancer(t); err == nil {
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
	return skips(g, upToDate, inRotation)
}

// skips is Skips once the facts are known: why each deploy is up to date
// ("" if it is not), and whether a server is in rotation now.
func skips(g *executor.Graph, upToDate []string, inRotation func(NginxTarget, string) bool) []string {
	skip := slices.Clone(upToDate)
	o := newOrder(g)
	windows := map[int]window{} // drain step → its window
	seen := map[NginxTarget]bool{}
	for _, s := range g.Steps {
		if sp, ok := s.Spec.(*DrainSpec); ok && sp.Nginx != nil {
			if t := nginxTarget(sp.Nginx); !seen[t] {
				seen[t] = true
				for _, w := range o.drains(t) {
					windows[w.step] = w
				}
			}
		}
	}
	for i, s := range g.Steps {
		sp, ok := s.Spec.(*DrainSpec)
		if !ok || sp.Nginx == nil {
			continue
		}
		t := nginxTarget(sp.Nginx)
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
			case *DeploySpec:
				if skip[k] == "" {
					empty = false
				}
				deploys = append(deploys, k)
			case *HealthCheckSpec:
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
		if _, ok := s.Spec.(*SwitchSpec); !ok || skip[i] == "" {
			continue
		}
		for a, sa := range g.Steps {
			if _, ok := sa.Spec.(*DeploySpec); ok && o.before(a, i) && skip[a] == "" {
				skip[i] = ""
				break
			}
		}
	}
	// Health checks after nothing but skipped steps.
	for i, s := range g.Steps {
		if _, ok := s.Spec.(*HealthCheckSpec); !ok || skip[i] != "" || len(g.Deps(i)) == 0 {
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
