package suggest

import "testing"

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		given string
		cands []string
		want  string
	}{
		{"timout", []string{"timeout", "depends_on"}, "timeout"},
		{"dependson", []string{"timeout", "depends_on", "for_each"}, "depends_on"},
		{"Drain", []string{"drain", "deploy"}, "drain"},
		{"app", []string{"db", "cache"}, ""},
		{"app3", []string{"app1", "app2"}, "app1"}, // ties: the first
		{"same", []string{"same"}, ""},             // an exact name is no typo
		{"healthcheck_interval", []string{"health_check_interval"}, "health_check_interval"},
		{string(make([]byte, 300)), []string{"x"}, ""},
	} {
		if got := Closest(tc.given, tc.cands); got != tc.want {
			t.Errorf("Closest(%q, %q) = %q, want %q", tc.given, tc.cands, got, tc.want)
		}
	}
	if got := DidYouMean("drian", []string{"drain"}); got != ` Did you mean "drain"?` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("zzz", []string{"drain"}); got != "" {
		t.Errorf("DidYouMean = %q, want empty", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"app", "APP", 0}, {"ngnix", "nginx", 2}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if d := Distance(tt.a, tt.b); d != tt.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, d, tt.d)
		}
	}
}
