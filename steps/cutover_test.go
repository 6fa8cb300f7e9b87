package steps

import (
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/nginx"
)

func bgSpec() *CutoverSpec {
	return &CutoverSpec{Nginx: &dsl.Nginx{Upstream: dsl.String{Value: "apps"}}, Name: "web", Colours: [2]ColourSet{
		{Name: "blue", Targets: []string{"b1", "b2"}, Servers: []string{"b1:80", "b2:80"}, Containers: []string{"b1", "b2"}},
		{Name: "green", Targets: []string{"g1", "g2"}, Servers: []string{"g1:80", "g2:80"}, Containers: []string{"g1", "g2"}},
	}}
}

// The live colour is the one whose lines are all up while the other's are
// all down; every other state is refused, saying what nginx has.
func TestCutoverLiveColour(t *testing.T) {
	m := func(addr string, down bool) nginx.Member { return nginx.Member{Address: addr, Down: down} }
	for _, tc := range []struct {
		name    string
		members []nginx.Member
		live    int
		err     []string
	}{
		{"blue live", []nginx.Member{m("b1:80", false), m("b2:80", false), m("g1:80", true), m("g2:80", true)}, 0, nil},
		{"green live", []nginx.Member{m("b1:80", true), m("g1:80", false), m("b2:80", true), m("g2:80", false), m("other:80", false)}, 1, nil},
		{"both up", []nginx.Member{m("b1:80", false), m("b2:80", false), m("g1:80", false), m("g2:80", false)}, -1,
			[]string{"both colours are up", "blue: b1:80 up, b2:80 up; green: g1:80 up, g2:80 up", "reload nginx, and apply again"}},
		{"both down", []nginx.Member{m("b1:80", true), m("b2:80", true), m("g1:80", true), m("g2:80", true)}, -1,
			[]string{"no colour is up", `upstream "apps"`}},
		{"mixed", []nginx.Member{m("b1:80", false), m("b2:80", true), m("g1:80", false), m("g2:80", true)}, -1,
			[]string{"the colours are mixed", "b2:80 down"}},
		{"idle partly up", []nginx.Member{m("b1:80", false), m("b2:80", false), m("g1:80", false), m("g2:80", true)}, -1,
			[]string{"green: g1:80 up, g2:80 down"}},
		{"backup is not down", []nginx.Member{m("b1:80", false), m("b2:80", false), {Address: "g1:80", Backup: true}, m("g2:80", true)}, -1,
			[]string{"g1:80 backup"}},
		{"missing line", []nginx.Member{m("b1:80", false), m("b2:80", false), m("g1:80", true)}, -1,
			[]string{"g2:80 missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, err := bgSpec().live(tc.members)
			if live != tc.live {
				t.Errorf("live = %d, want %d (err %v)", live, tc.live, err)
			}
			if (err != nil) != (tc.err != nil) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// A deploy of a blue_green needs no drain (lint), while the same deploy
// outside one still does.
func TestBlueGreenDeployNeedsNoDrain(t *testing.T) {
	p, diags := load(t, `
blue_green "web" {
  nginx = nginx.lb
  blue {
    targets = ["b1"]
    server  = "${target}:80"
  }
  green {
    targets = ["g1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}
step "deploy" "loose" {
  container = "x"
  image     = "app:v2"
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		t.Fatal(gd)
	}
	var got []string
	for _, d := range Lint(p, g) {
		got = append(got, d.Summary+" "+d.Subject.String())
	}
	if len(got) != 1 || !strings.Contains(got[0], "Deploy without a drain") {
		t.Errorf("lint: %q; want one warning, for step.deploy.loose", got)
	}
}

// The live colour's steps are skipped, the idle colour's health checks and
// the cut-over run even after deploys that were up to date, and a live
// colour that already runs the plan makes every step skipped.
func TestColourSkips(t *testing.T) {
	p, diags := load(t, `
blue_green "web" {
  nginx = nginx.lb
  blue {
    targets = ["b1"]
    server  = "${target}:80"
  }
  green {
    targets = ["g1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	g, gd := executor.Build(p)
	if gd.HasErrors() {
		t.Fatal(gd)
	}
	idx := func(addr string) int {
		i := g.Index(addr)
		if i < 0 {
			t.Fatalf("no step %s", addr)
		}
		return i
	}
	db, hb := idx(`blue_green.web.deploy["b1"]`), idx(`blue_green.web.health_check["b1"]`)
	dg, hg := idx(`blue_green.web.deploy["g1"]`), idx(`blue_green.web.health_check["g1"]`)
	cut := idx("blue_green.web.cutover")
	run := func(live int, upToDate map[int]string) []string {
		u := make([]string, len(g.Steps))
		for k, v := range upToDate {
			u[k] = v
		}
		return colourSkipsWith(g, skips(g, u, func(NginxTarget, string) bool { return true }), u,
			func(*CutoverSpec) (int, error) { return live, nil })
	}

	// Blue live, nothing up to date: blue skipped, green and the cut-over run.
	s := run(0, nil)
	if s[db] != "up to date: blue is live (deploying green)" || s[hb] != s[db] {
		t.Errorf("blue's steps: %q, %q", s[db], s[hb])
	}
	if s[dg] != "" || s[hg] != "" || s[cut] != "" {
		t.Errorf("green's steps and the cut-over must run: %q", s)
	}
	// Green live, blue already runs the plan (after a flip back): blue's
	// deploy is skipped, its health check and the cut-over still run.
	s = run(1, map[int]string{db: "image up to date"})
	if s[db] != "image up to date" || s[hb] != "" || s[cut] != "" || s[dg] == "" || s[hg] == "" {
		t.Errorf("after a flip back: %q", s)
	}
	// Blue live and running the plan: nothing to do.
	s = run(0, map[int]string{db: "image up to date"})
	for i, why := range s {
		if !strings.Contains(why, "blue is live and runs what the plan says") {
			t.Errorf("%s: %q, want skipped", g.Steps[i].Addr, why)
		}
	}
}
