// This file tests the cut-over of a blue_green with idle = "backup": which
// colour is live when the idle one is marked backup, and the refusals of
// what the backup swap cannot run on (a reload-free nginx).
package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/nginx"
)

// With idle = "backup", the live colour is the one whose lines are all up
// while the other's are all backup (none down); a colour marked down is
// not idle in this form, and the error says what to mark.
func TestCutoverLiveColourBackup(t *testing.T) {
	up := func(a string) nginx.Member { return nginx.Member{Address: a} }
	bk := func(a string) nginx.Member { return nginx.Member{Address: a, Backup: true} }
	dn := func(a string) nginx.Member { return nginx.Member{Address: a, Down: true} }
	for _, tc := range []struct {
		name    string
		members []nginx.Member
		live    int
		err     []string
	}{
		{"blue live", []nginx.Member{up("b1:80"), up("b2:80"), bk("g1:80"), bk("g2:80")}, 0, nil},
		{"green live", []nginx.Member{bk("b1:80"), bk("b2:80"), up("g1:80"), up("g2:80")}, 1, nil},
		{"idle marked down", []nginx.Member{up("b1:80"), up("b2:80"), dn("g1:80"), dn("g2:80")}, -1,
			[]string{"g1:80 down", "all marked `backup` (idle = \"backup\"), none `down`", "the other is backup"}},
		{"idle down and backup", []nginx.Member{up("b1:80"), up("b2:80"), bk("g1:80"), {Address: "g2:80", Down: true, Backup: true}}, -1,
			[]string{"g2:80 down backup"}},
		{"both backup", []nginx.Member{bk("b1:80"), bk("b2:80"), bk("g1:80"), bk("g2:80")}, -1,
			[]string{"no colour is up"}},
		{"both up", []nginx.Member{up("b1:80"), up("b2:80"), up("g1:80"), up("g2:80")}, -1,
			[]string{"both colours are up"}},
		{"mixed", []nginx.Member{up("b1:80"), bk("b2:80"), bk("g1:80"), up("g2:80")}, -1,
			[]string{"the colours are mixed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bgSpec()
			s.Idle = dsl.IdleBackup
			live, err := s.live(tc.members)
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
	// The down form still refuses a backup idle colour.
	if _, err := bgSpec().live([]nginx.Member{up("b1:80"), up("b2:80"), bk("g1:80"), bk("g2:80")}); err == nil || !strings.Contains(err.Error(), "all marked `down`") {
		t.Errorf("idle = \"down\" with backup lines: %v", err)
	}
}

const backupBlueGreen = `
blue_green "web" {
  nginx = nginx.%s
  idle  = "backup"
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
`

// idle = "backup" reaches the cut-over step; on an nginx with mode =
// "dynamic" the plan is refused when it loads, at the idle value (line 17
// once the header is prepended).
func TestCutoverBackupDecode(t *testing.T) {
	p, diags := load(t, strings.Replace(backupBlueGreen, "%s", "lb", 1))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var got *CutoverSpec
	for _, s := range p.Steps {
		if c, ok := s.Spec.(*CutoverSpec); ok {
			got = c
		}
	}
	if got == nil || got.Idle != dsl.IdleBackup {
		t.Fatalf("cut-over spec: %+v", got)
	}
	if err := got.canBackup(context.Background(), nginx.NewDynamic(nginx.DynamicOptions{})); err == nil || !strings.Contains(err.Error(), `idle = "down"`) {
		t.Errorf("reload-free backend: %v", err)
	}

	_, diags = load(t, `
nginx "dyn" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  mode      = "dynamic"
}
`+strings.Replace(backupBlueGreen, "%s", "dyn", 1))
	if !diags.HasErrors() {
		t.Fatal("idle = \"backup\" with mode = \"dynamic\" was accepted")
	}
	d := diags[0]
	if d.Summary != `idle = "backup" needs mode = "reload"` || !strings.Contains(d.Detail, "nginx.dyn") || d.Subject == nil || d.Subject.Start.Line != 17 {
		t.Errorf("diagnostic: %s: %s (at %v)", d.Summary, d.Detail, d.Subject)
	}
}
