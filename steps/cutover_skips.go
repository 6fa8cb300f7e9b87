// This file holds which steps of a blue_green have nothing to do: the live
// colour's deploys and health checks, read from nginx before the apply
// (Skips asks for it), so that the graph stays the same whichever colour
// serves.
package steps

import (
	"context"
	"fmt"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
)

// colourSkips amends skip (what Skips found; upToDate: why each deploy is
// up to date) for every blue_green of g, from the colour nginx serves now:
//
//   - the live colour's deploys and health checks are skipped ("up to
//     date: blue is live"): it serves, and stays as it is;
//   - the idle colour's health checks run whenever the cut-over does, even
//     after deploys that were up to date (a colour the traffic moves to is
//     checked first), and so does the cut-over;
//   - when the live colour already runs what the plan says (each of its
//     deploys up to date), the whole blue_green is: nothing moves.
//
// A blue_green whose live colour cannot be read is left as Skips found it:
// preflight has refused it already.
func colourSkips(ctx context.Context, env *Env, g *executor.Graph, skip, upToDate []string) []string {
	return colourSkipsWith(g, skip, upToDate, func(c *CutoverSpec) (int, error) {
		_, live, err := c.liveNow(ctx, env)
		return live, err
	})
}

// colourSkipsWith is colourSkips once it can ask which colour is live.
func colourSkipsWith(g *executor.Graph, skip, upToDate []string, liveOf func(*CutoverSpec) (int, error)) []string {
	for _, s := range g.Steps {
		c, ok := s.Spec.(*CutoverSpec)
		if !ok {
			continue
		}
		live, err := liveOf(c)
		if err != nil {
			continue
		}
		from, to := c.Colours[live], c.Colours[1-live]
		idx := func(phase, target string) int { return g.Index(dsl.BlueGreenAddr(c.Name, phase, target)) }
		current := true
		for _, t := range from.Targets {
			if k := idx("deploy", t); k < 0 || upToDate[k] == "" {
				current = false
			}
		}
		set := func(k int, why string) {
			if k >= 0 {
				skip[k] = why
			}
		}
		if current {
			why := fmt.Sprintf("up to date: %s is live and runs what the plan says", from.Name)
			for _, col := range c.Colours {
				for _, t := range col.Targets {
					for _, p := range dsl.BlueGreenPhases {
						set(idx(p, t), why)
					}
				}
			}
			set(idx(dsl.CutoverType, ""), why)
			set(idx(dsl.GatePhase, ""), why)
			continue
		}
		why := fmt.Sprintf("up to date: %s is live (deploying %s)", from.Name, to.Name)
		for _, t := range from.Targets {
			for _, p := range dsl.BlueGreenPhases {
				set(idx(p, t), why)
			}
		}
		for _, t := range to.Targets {
			set(idx("health_check", t), "")
		}
		set(idx(dsl.CutoverType, ""), "")
		set(idx(dsl.GatePhase, ""), "")
	}
	return skip
}
