package nginx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseDump(t *testing.T) {
	main := "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n"
	inc := "upstream apps { server a:1; }" // no final newline
	tricky := "# configuration file /fake:\nupstream x { server b:1; }\n"
	out := dumpHeader + "/etc/nginx/nginx.conf:\n" + main + "\n" +
		dumpHeader + "/etc/nginx/conf.d/a.conf:\n" + inc + "\n" +
		dumpHeader + "/etc/nginx/conf.d/b.conf:\n" + tricky + "\n"
	l := parseDump([]byte(out))
	var names []string
	for _, f := range l.Files {
		names = append(names, f.Name)
	}
	want := []string{"/etc/nginx/nginx.conf", "/etc/nginx/conf.d/a.conf", "/etc/nginx/conf.d/b.conf", "/fake"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	if string(l.Files[0].Data) != main || string(l.Files[1].Data) != inc {
		t.Fatalf("data %q %q", l.Files[0].Data, l.Files[1].Data)
	}
	// A file holding a header-like line is split, but its bytes are still
	// recognized at its offset.
	if string(l.Files[2].Data) == tricky || !l.sameAt(l.Files[2], []byte(tricky)) {
		t.Fatalf("b.conf: data %q, sameAt %t", l.Files[2].Data, l.sameAt(l.Files[2], []byte(tricky)))
	}
	if l.sameAt(l.Files[1], []byte(inc+" ")) || l.sameAt(l.Files[1], []byte(inc[:5])) {
		t.Fatal("sameAt accepted other bytes")
	}
	if got := parseDump(nil); len(got.Files) != 0 {
		t.Fatalf("empty dump: %+v", got.Files)
	}
}

func TestMountMapping(t *testing.T) {
	mounts := []Mount{
		{Type: "bind", Source: "/srv/proxy/nginx.conf", Destination: "/etc/nginx/nginx.conf"},
		{Type: "bind", Source: "/srv/conf.d", Destination: "/etc/nginx/conf.d"},
		{Type: "bind", Source: "/srv/conf.d-special", Destination: "/etc/nginx/conf.d/special"},
	}
	for _, tc := range []struct{ host, name string }{
		{"/srv/proxy/nginx.conf", "/etc/nginx/nginx.conf"},
		{"/srv/conf.d/apps.conf", "/etc/nginx/conf.d/apps.conf"},
		{"/srv/conf.d-special/x.conf", "/etc/nginx/conf.d/special/x.conf"},
		{"/srv/proxy/nginx.conf.copy", ""},
		{"/srv/conf.dx/apps.conf", ""},
		{"/tmp/nginx.conf", ""},
	} {
		if got := containerPathOf(tc.host, mounts); got != tc.name {
			t.Errorf("containerPathOf(%s) = %q, want %q", tc.host, got, tc.name)
		}
		if tc.name != "" {
			if got := hostPathOf(tc.name, mounts); got != tc.host {
				t.Errorf("hostPathOf(%s) = %q, want %q", tc.name, got, tc.host)
			}
		}
	}
	if got := hostPathOf("/etc/nginx/mime.types", mounts); got != "" {
		t.Errorf("a file of the image maps to %q", got)
	}
}

// The proof accepts exactly the loaded file with the bytes on disk, and
// its refusals name the file, what nginx loads (and the mounts) and the
// fix.
func TestProve(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "proxy", "nginx.conf")
	cp := filepath.Join(dir, "copy", "nginx.conf")
	conf := []byte(testConf)
	for _, p := range []string{seed, cp} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, conf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(seed, link); err != nil {
		t.Fatal(err)
	}
	mounts := []Mount{{Type: "bind", Source: seed, Destination: "/etc/nginx/nginx.conf"}}
	container := func(data string) *Loaded {
		l := parseDump([]byte(dumpHeader + "/etc/nginx/nginx.conf:\n" + data + "\n" + dumpHeader + "/etc/nginx/mime.types:\ntypes {}\n\n"))
		l.mapMounts(mounts)
		return l
	}
	host := func(name, data string) *Loaded {
		return parseDump([]byte(dumpHeader + name + ":\n" + data + "\n"))
	}
	for _, tc := range []struct {
		name     string
		l        *Loaded
		path     string
		wantName string
		wantMsg  []string // in the error; nil: no error
	}{
		{"container, the mounted file", container(testConf), seed, "/etc/nginx/nginx.conf", nil},
		{"container, a copy", container(testConf), cp, "", []string{
			"nginx X does not load " + cp,
			"/etc/nginx/nginx.conf (this machine's " + seed + ")", "/etc/nginx/mime.types (in the image: no mount)",
			"The container's mounts:", "bind " + seed + " -> /etc/nginx/nginx.conf",
			`Fix: set the nginx block's config to "` + seed + `"`, `holds upstream "apps"`}},
		{"container, other bytes (replaced file)", container(strings.Replace(testConf, "app1", "appX", 1)), seed, "", []string{
			"loads /etc/nginx/nginx.conf, but the bytes it reads there", "restart the nginx container"}},
		{"container, no mounts", func() *Loaded { l := container(testConf); l.mapMounts([]Mount{}); return l }(), seed, "", []string{
			"(none)", "(in the image: no mount)", "no mount brings from this machine: bind-mount"}},
		{"through the engine, a file nginx does not load", func() *Loaded { l := container(testConf); l.viaEngine = true; return l }(), "/etc/nginx/conf.d/other.conf", "", []string{
			"/etc/nginx/nginx.conf (" + seed + " on the engine's host)",
			`Fix: set the nginx block's config to "/etc/nginx/nginx.conf", the path in the container`}},
		{"host, the loaded file", host(seed, testConf), seed, seed, nil},
		{"host, through a symlink", host(seed, testConf), link, seed, nil},
		{"host, a copy", host(seed, testConf), cp, "", []string{"does not load " + cp, "nginx loads (nginx -T):\n    " + seed, `set the nginx block's config to "` + seed + `"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, err := tc.l.prove("nginx X", tc.path, "apps", conf)
			if tc.wantMsg == nil {
				if err != nil || name != tc.wantName {
					t.Fatalf("prove = %q, %v; want %q", name, err, tc.wantName)
				}
				return
			}
			if !errors.Is(err, ErrNotLoaded) {
				t.Fatalf("prove = %q, %v; want ErrNotLoaded", name, err)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

// Check refuses, with nothing changed, when the file to edit is not the
// file nginx loads; a change fails and is reverted when nginx does not
// read what was written, before the reload (no reload) or after it (a
// second reload puts the previous config back).
func TestBalancerEditsOnlyWhatNginxLoads(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, testConf, true)
	other := filepath.Join(t.TempDir(), "nginx.conf")
	if err := os.WriteFile(other, []byte(testConf), 0o644); err != nil {
		t.Fatal(err)
	}
	rt.loads = other
	err := b.Check(ctx, []string{"app1:3000"})
	if !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), "does not load "+path) || !strings.Contains(err.Error(), other) {
		t.Fatalf("Check with nginx loading another file = %v", err)
	}
	rt.loads = ""
	if err := b.Check(ctx, []string{"app1:3000"}); err != nil {
		t.Fatal(err)
	}

	rt.drain()
	rt.stale = []byte(testConf)
	if _, err := b.MarkDown(ctx, "app1:3000"); !errors.Is(err, ErrNotLoaded) || rt.reloads != 0 || readFile(t, path) != testConf {
		t.Fatalf("mark down nginx does not see: %v, %d reloads", err, rt.reloads)
	}
	rt.staleAfter = 1 // sees the edit before the reload, not after
	_, err = b.MarkDown(ctx, "app1:3000")
	if !errors.Is(err, ErrReloadUnconfirmed) || !errors.Is(err, ErrNotLoaded) || rt.reloads != 2 || readFile(t, path) != testConf {
		t.Fatalf("mark down not run after the reload: %v, %d reloads (want 2: the change and the revert)", err, rt.reloads)
	}
	rt.stale = nil
	if _, err := b.MarkDown(ctx, "app1:3000"); err != nil || !strings.Contains(readFile(t, path), "app1:3000 down;") {
		t.Fatalf("mark down with nginx reading the file: %v", err)
	}
}

func TestStartFlags(t *testing.T) {
	for _, tc := range []struct {
		binary, path string
		args, want   []string
	}{
		{"nginx", "nginx", []string{"-g", "daemon off;"}, []string{"-g", "daemon off;"}},
		{"nginx", "/docker-entrypoint.sh", []string{"nginx", "-c", "/etc/nginx/custom.conf", "-g", "daemon off;"}, []string{"-c", "/etc/nginx/custom.conf", "-g", "daemon off;"}},
		{"/usr/sbin/nginx", "/usr/sbin/nginx", []string{"-p", "/srv/", "-c/srv/main.conf", "-q"}, []string{"-p", "/srv/", "-c/srv/main.conf"}},
		{"nginx", "/app/server", []string{"-c", "x"}, nil},
		{"nginx", "nginx", []string{"-c"}, nil},
	} {
		if got := startFlags(tc.binary, tc.path, tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("startFlags(%s, %q) = %q, want %q", tc.path, tc.args, got, tc.want)
		}
	}
}
