package steps

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// members is a Membership that only answers Members.
type members struct {
	nginx.Membership
	list []nginx.Member
}

func (m members) Members(context.Context) ([]nginx.Member, error) { return m.list, nil }

// Which drains preflight refuses as outages, by the upstream's servers
// and how the plan orders its drains and restores.
func TestOutages(t *testing.T) {
	rollout := func(targets string, batch int) string {
		return `
rollout "r" {
  nginx      = nginx.lb
  targets    = ` + targets + `
  batch_size = ` + string(rune('0'+batch)) + `
  server     = "${target}:3000"
  deploy {
    image = "img"
  }
  health_check {
    http {
      port = 3000
    }
  }
}`
	}
	up := func(names ...string) []nginx.Member {
		var out []nginx.Member
		for _, n := range names {
			out = append(out, nginx.Member{Address: n + ":3000"})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		body    string
		members []nginx.Member
		want    []string // substrings, one per error
	}{
		{"one at a time of two", rollout(`["a", "b"]`, 1), up("a", "b"), nil},
		{"only server", rollout(`["a"]`, 1), up("a"), []string{"only server"}},
		{"a batch of every server", rollout(`["a", "b"]`, 2), up("a", "b"), []string{"drained at the same time as"}},
		{"a batch of two of three", rollout(`["a", "b"]`, 2), up("a", "b", "c"), nil},
		{"the other is already down", rollout(`["a"]`, 1), []nginx.Member{{Address: "a:3000"}, {Address: "b:3000", Down: true}}, []string{"b:3000 already down"}},
		{"a backup still serves", rollout(`["a"]`, 1), []nginx.Member{{Address: "a:3000"}, {Address: "b:3000", Backup: true}}, nil},
		{"blue/green: green comes in, then blue goes out", `
rollout "green" {
  nginx      = nginx.lb
  targets    = ["g1", "g2"]
  batch_size = 2
  server     = "${target}:3000"
  deploy {
    image = "img"
  }
  health_check {
    http {
      port = 3000
    }
  }
}
step "drain" "b1" {
  nginx      = nginx.lb
  server     = "b1:3000"
  depends_on = [rollout.green]
}
step "drain" "b2" {
  nginx      = nginx.lb
  server     = "b2:3000"
  depends_on = [rollout.green]
}`, []nginx.Member{{Address: "b1:3000"}, {Address: "b2:3000"}, {Address: "g1:3000", Down: true}, {Address: "g2:3000", Down: true}}, nil},
		{"drains without restores overlap", `
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "drain" "b" {
  nginx      = nginx.lb
  server     = "b:3000"
  depends_on = [step.drain.a]
}`, up("a", "b"), []string{"drained at the same time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := load(t, tc.body)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			g, gd := executor.Build(p)
			if gd.HasErrors() {
				t.Fatal(gd)
			}
			errs := outages(context.Background(), members{list: tc.members}, nginxTarget(p.Nginx[0]), p.Nginx[0].Upstream.Range, newOrder(g))
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q lacks %q", errs[i], w)
				}
			}
		})
	}
}

// Which steps an apply skips, by which deploys are up to date and which
// servers are in rotation.
func TestSkips(t *testing.T) {
	seed := `
step "drain" "a" {
  nginx  = nginx.lb
  server = "a:3000"
}
step "deploy" "a" {
  container  = "a"
  image      = "img"
  depends_on = [step.drain.a]
}
step "health_check" "a" {
  container = "a"
  http {
    port = 3000
  }
  depends_on = [step.deploy.a]
}
step "restore" "a" {
  nginx      = nginx.lb
  server     = "a:3000"
  depends_on = [step.health_check.a]
}
step "drain" "b" {
  nginx      = nginx.lb
  server     = "b:3000"
  depends_on = [step.restore.a]
}
step "deploy" "b" {
  container  = "b"
  image      = "img"
  depends_on = [step.drain.b]
}
step "health_check" "b" {
  container = "b"
  http {
    port = 3000
  }
  depends_on = [step.deploy.b]
}
step "restore" "b" {
  nginx      = nginx.lb
  server     = "b:3000"
  depends_on = [step.health_check.b]
}
step "health_check" "smoke" {
  container  = "a"
  http {
    port = 3000
  }
  depends_on = [step.restore.b]
}
step "health_check" "alone" {
  container = "a"
  http {
    port = 3000
  }
}`
	p, diags := load(t, seed)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		t.Fatal(gd)
	}
	idx := func(addr string) int { return g.Index(addr) }
	skipped := func(current []string, down ...string) string {
		up := make([]string, len(g.Steps))
		for _, c := range current {
			up[idx("step.deploy."+c)] = c + " is current"
		}
		got := skips(g, up, func(_ NginxTarget, s string) bool { return !slices.Contains(down, s) })
		var names []string
		for i, why := range got {
			if why != "" {
				names = append(names, strings.TrimPrefix(g.Steps[i].Addr, "step."))
			}
		}
		return strings.Join(names, " ")
	}
	for _, tc := range []struct {
		current, down []string
		want          string
	}{
		{nil, nil, ""},
		{[]string{"a", "b"}, nil, "drain.a deploy.a health_check.a restore.a drain.b deploy.b health_check.b restore.b health_check.smoke"},
		{[]string{"a"}, nil, "drain.a deploy.a health_check.a restore.a"},
		{[]string{"b"}, nil, "drain.b deploy.b health_check.b restore.b"},
		// a is out of rotation now: its restore changes something, so
		// its drain and restore run (the deploy alone is skipped).
		{[]string{"a"}, []string{"a:3000"}, "deploy.a"},
	} {
		if got := skipped(tc.current, tc.down...); got != tc.want {
			t.Errorf("current %v, down %v: skipped %q, want %q", tc.current, tc.down, got, tc.want)
		}
	}
}
