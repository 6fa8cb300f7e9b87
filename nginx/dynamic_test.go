package nginx

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestStateRoundTrip: what Dynamic writes it reads back, and a file cut
// short (no "end" line) is refused rather than read as a membership.
func TestStateRoundTrip(t *testing.T) {
	s := &state{Version: 7, Peers: []statePeer{
		{Name: "app1:3000", Addr: "172.18.0.5:3000", Weight: 3},
		{Name: "app2:3000", Down: true, Backup: true},
	}}
	data := s.marshal()
	want := "nonstop 1\nsize 96\nversion 7\nserver app1:3000 172.18.0.5:3000 0 3 0\nserver app2:3000 - 1 0 1\nend\n"
	if string(data) != want || len(want) != 96 {
		t.Fatalf("marshal (%d bytes):\n%s\nwant:\n%s", len(data), data, want)
	}
	// A torn file that still begins and ends as a whole one: the new,
	// shorter text written over the start of an older, longer one.
	torn := append(append([]byte{}, data...), "server app3:3000 - 1 0 0\nend\n"...)
	if _, err := parseState(torn); !errors.Is(err, errIncomplete) {
		t.Fatalf("a file longer than its size line: want errIncomplete, got %v", err)
	}
	// A file written before the size line existed is read as before.
	if old, err := parseState([]byte("nonstop 1\nversion 3\nserver app1:3000 - 1 0 0\nend\n")); err != nil || old.Version != 3 || !old.Peers[0].Down {
		t.Fatalf("a file without size line: %+v, %v", old, err)
	}
	// Every length, across the lengths where the size line gains a digit.
	for n := 0; n < 200; n++ {
		b := withSize(make([]byte, n))
		if !strings.Contains(string(b), fmt.Sprintf("size %d\n", len(b))) {
			t.Fatalf("withSize(%d bytes) = %q: size line says otherwise", n, b[:20])
		}
	}
	got, err := parseState(data)
	if err != nil || got.Version != 7 || len(got.Peers) != 2 || *got.peer("app1:3000") != s.Peers[0] || *got.peer("app2:3000") != s.Peers[1] {
		t.Fatalf("parseState: %+v, %v", got, err)
	}
	if _, err := parseState(data[:len(data)-4]); !errors.Is(err, errIncomplete) {
		t.Fatalf("a cut file: want errIncomplete, got %v", err)
	}
	a, err := parseAck([]byte("nonstop-ack 1\nmodule 1\nversion 7\ninflight app1:3000 2\ninflight * 1\nend\n"))
	if err != nil || a.Version != 7 || a.Module != "1" || a.InFlight["app1:3000"] != 2 || a.InFlight["*"] != 1 {
		t.Fatalf("parseAck: %+v, %v", a, err)
	}
}

// TestFindSnippet: the preflight finds each part of the snippet in what
// `nginx -T` shows, and the state folder the init_worker call names.
func TestFindSnippet(t *testing.T) {
	sn := Snippet(SnippetOptions{StateDir: "/etc/nginx/nonstop", Upstreams: []string{"apps", "api"}})
	l := &Loaded{Files: []LoadedFile{{Name: "/etc/nginx/nginx.conf", Data: []byte("http {\n" + sn + "\n}\n")}}}
	s := findSnippet(l, "api")
	if s.dir != "/etc/nginx/nonstop" || len(s.upstreams) != 2 || s.upstreams[1] != "api" || !s.dict || !s.log || !s.balance {
		t.Fatalf("findSnippet: %+v", s)
	}
	if s := findSnippet(l, "other"); s.balance {
		t.Fatalf("balance found for an upstream the snippet does not name: %+v", s)
	}
	l.Mounts = []Mount{{Type: "bind", Source: "/srv/nonstop", Destination: "/etc/nginx/nonstop"}}
	if dir, err := hostDir(l, s.dir); err != nil || dir != "/srv/nonstop" {
		t.Fatalf("hostDir: %q, %v", dir, err)
	}
	l.Mounts = []Mount{}
	if _, err := hostDir(l, s.dir); err == nil {
		t.Fatal("hostDir of a folder no mount brings in: want an error")
	}
}
