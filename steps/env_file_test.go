// This file tests Env.NginxFile for nginx on the host: the file a backend
// edits is this machine's, written byte for byte.
package steps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

func TestNginxFileHostForm(t *testing.T) {
	env := NewEnv(zerolog.Nop(), Builtin())
	defer env.Close()
	p := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(p, []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := env.NginxFile(t.Context(), NginxTarget{Config: "/etc/nginx/nginx.conf", Upstream: "apps", PIDFile: "/run/nginx.pid"}, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("{\"apps\": [\"a:1\"]}\n\x00 bytes kept\r\n")
	if err := f.Write(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := f.Read(t.Context())
	if err != nil || string(got) != string(want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after the write: %v %v; want 0640 kept", fi.Mode(), err)
	}
}
