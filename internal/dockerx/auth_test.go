package dockerx

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
)

// TestRegistryCredentials: the credentials are those the docker CLI would
// use for the image's registry: credHelpers for that registry first, else
// credsStore, else auths; a credential helper is a real program on PATH
// speaking the helpers' protocol.
func TestRegistryCredentials(t *testing.T) {
	bin := t.TempDir()
	// A credential helper answering `get` for one server with fixed
	// credentials, as docker-credential-pass or -ecr-login would.
	helper := `#!/bin/sh
[ "$1" = get ] || exit 1
read server
case "$server" in
  helped.example:5000|store.example) printf '{"ServerURL":"%s","Username":"%s","Secret":"s3cret"}' "$server" "$0" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	for _, name := range []string{"docker-credential-nonstophelper", "docker-credential-nonstopstore"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(helper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	auth := base64.StdEncoding.EncodeToString([]byte("alice:pw1"))
	for _, tc := range []struct {
		name, config, ref          string
		registry, user, pass, from string
	}{
		{name: "auths", ref: "127.0.0.1:5000/team/app:v2",
			config:   `{"auths":{"127.0.0.1:5000":{"auth":"` + auth + `"}}}`,
			registry: "127.0.0.1:5000", user: "alice", pass: "pw1", from: "auths"},
		{name: "no login for this registry", ref: "127.0.0.1:5001/team/app",
			config:   `{"auths":{"127.0.0.1:5000":{"auth":"` + auth + `"}}}`,
			registry: "127.0.0.1:5001", from: "no login for 127.0.0.1:5001"},
		{name: "docker hub key", ref: "library/nginx:stable",
			config:   `{"auths":{"https://index.docker.io/v1/":{"auth":"` + auth + `"}}}`,
			registry: "docker.io", user: "alice", pass: "pw1", from: "auths"},
		{name: "credHelpers over credsStore and auths", ref: "helped.example:5000/app",
			config:   `{"credsStore":"nonstopstore","credHelpers":{"helped.example:5000":"nonstophelper"},"auths":{"helped.example:5000":{"auth":"` + auth + `"}}}`,
			registry: "helped.example:5000", user: "nonstophelper", pass: "s3cret", from: "credHelpers nonstophelper"},
		{name: "credsStore", ref: "store.example/app",
			config:   `{"credsStore":"nonstopstore"}`,
			registry: "store.example", user: "nonstopstore", pass: "s3cret", from: "credsStore nonstopstore"},
		{name: "no config at all", ref: "127.0.0.1:5000/app", registry: "127.0.0.1:5000", from: "no login for 127.0.0.1:5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := dockerConfig(t, "", nil)
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := RegistryCredentials(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if c.Registry != tc.registry || !strings.HasPrefix(c.From, tc.from) {
				t.Errorf("registry %q from %q, want %q from %q", c.Registry, c.From, tc.registry, tc.from)
			}
			var got registry.AuthConfig
			if c.Encoded != "" {
				b, err := base64.URLEncoding.DecodeString(c.Encoded)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
			}
			if strings.TrimPrefix(got.Username, bin+"/docker-credential-") != tc.user || got.Password != tc.pass {
				t.Errorf("credentials %q/%q, want %q/%q", got.Username, got.Password, tc.user, tc.pass)
			}
		})
	}
	t.Run("broken helper names the registry", func(t *testing.T) {
		dir := dockerConfig(t, "", nil)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"nonstopmissing"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := RegistryCredentials("reg.example:443/app")
		if err == nil || !strings.Contains(err.Error(), "registry reg.example:443") || !strings.Contains(err.Error(), "credsStore nonstopmissing") {
			t.Errorf("RegistryCredentials with a missing helper: %v", err)
		}
	})
}
