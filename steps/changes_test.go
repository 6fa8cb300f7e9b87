package steps

import (
	"testing"

	"github.com/nonstop-deploy/nonstop/nginx"
)

// TestServerLine: a member reads as the line nginx's config holds, flags
// in nginx's order; weight 0 (nginx's default) is not written.
func TestServerLine(t *testing.T) {
	for _, tc := range []struct {
		m    nginx.Member
		want string
	}{
		{nginx.Member{Address: "app2:3000"}, "server app2:3000;"},
		{nginx.Member{Address: "app2:3000", Down: true}, "server app2:3000 down;"},
		{nginx.Member{Address: "10.0.0.1:80", Weight: 5, Backup: true, Down: true}, "server 10.0.0.1:80 weight=5 backup down;"},
	} {
		if got := ServerLine(tc.m); got != tc.want {
			t.Errorf("ServerLine(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// TestChangeString: items are joined in order, each `what before → after`.
func TestChangeString(t *testing.T) {
	c := Change{Items: []ChangeItem{
		{What: "image", Before: "a:v1 (sha256:1)", After: "a:v2"},
		{What: "env MESSAGE", Before: `"v1"`, After: `"v2"`},
	}}
	if got, want := c.String(), `image a:v1 (sha256:1) → a:v2; env MESSAGE "v1" → "v2"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if (Change{}).String() != "" {
		t.Error("an empty change is not empty text")
	}
}
