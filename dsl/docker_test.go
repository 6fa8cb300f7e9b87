package dsl_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// TestDockerEndpointAttributes: every attribute reaches the model, and TLS
// files are made absolute against the plan file's folder.
func TestDockerEndpointAttributes(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.hcl")
	src := `
docker "tls" {
  host       = "tcp://10.0.0.1:2376"
  ca_file    = "certs/ca.pem"
  cert_file  = "/etc/docker/cert.pem"
  key_file   = "certs/key.pem"
  tls_verify = true
}
docker "far" {
  host = "ssh://deploy@10.0.0.2:2222"
}
docker "ctx" {
  context = "prod"
}
`
	if err := os.WriteFile(plan, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _, diags := load(t, plan, dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string]*dsl.Docker{}
	for _, d := range p.Docker {
		got[d.Name] = d
	}
	tls := got["tls"]
	for _, c := range []struct{ name, got, want string }{
		{"tls host", tls.Host.Value, "tcp://10.0.0.1:2376"},
		{"ca_file", tls.CAFile.Value, filepath.Join(dir, "certs/ca.pem")},
		{"cert_file", tls.CertFile.Value, "/etc/docker/cert.pem"},
		{"key_file", tls.KeyFile.Value, filepath.Join(dir, "certs/key.pem")},
		{"ssh host", got["far"].Host.Value, "ssh://deploy@10.0.0.2:2222"},
		{"context", got["ctx"].Context.Value, "prod"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !tls.TLSVerify.Value || got["far"].TLSVerify.Value {
		t.Errorf("tls_verify: tls=%v far=%v", tls.TLSVerify.Value, got["far"].TLSVerify.Value)
	}
}
