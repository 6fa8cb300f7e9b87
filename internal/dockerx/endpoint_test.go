package dockerx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
)

// dockerConfig makes a temporary DOCKER_CONFIG with the given current
// context and contexts (name -> host), and clears the environment the
// docker CLI reads.
func dockerConfig(t *testing.T, current string, contexts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(v, "")
	}
	t.Setenv("DOCKER_CONFIG", dir)
	if current != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"`+current+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := store.New(filepath.Join(dir, "contexts"), contextStoreConfig)
	for name, host := range contexts {
		if err := s.CreateOrUpdate(store.Metadata{Name: name, Metadata: map[string]any{},
			Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: host}}}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolveOrder(t *testing.T) {
	ctxs := map[string]string{"far": "ssh://deploy@far.example:2222", "near": "tcp://10.0.0.2:2375"}
	for _, tc := range []struct {
		name      string
		ep        Endpoint
		env       map[string]string
		current   string
		host      string
		sourceHas string
	}{
		{name: "nothing: the default socket", host: "unix:///var/run/docker.sock", sourceHas: "default socket"},
		{name: "current context", current: "near", host: "tcp://10.0.0.2:2375", sourceHas: "current context"},
		{name: "current context default", current: "default", host: "unix:///var/run/docker.sock", sourceHas: "default socket"},
		{name: "DOCKER_CONTEXT over the current context", current: "near", env: map[string]string{"DOCKER_CONTEXT": "far"},
			host: "ssh://deploy@far.example:2222", sourceHas: "DOCKER_CONTEXT"},
		{name: "DOCKER_CONTEXT=default", current: "near", env: map[string]string{"DOCKER_CONTEXT": "default"},
			host: "unix:///var/run/docker.sock", sourceHas: "default context"},
		{name: "DOCKER_HOST over everything in the environment", current: "near",
			env:  map[string]string{"DOCKER_CONTEXT": "far", "DOCKER_HOST": "tcp://127.0.0.1:2375"},
			host: "tcp://127.0.0.1:2375", sourceHas: "DOCKER_HOST"},
		{name: "DOCKER_HOST ssh", env: map[string]string{"DOCKER_HOST": "ssh://root@127.0.0.1:2222"},
			host: "ssh://root@127.0.0.1:2222", sourceHas: "DOCKER_HOST"},
		{name: "block host over the environment", ep: Endpoint{Host: "ssh://root@10.1.1.1"},
			env: map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2375"}, current: "near",
			host: "ssh://root@10.1.1.1", sourceHas: "docker block"},
		{name: "block host without scheme is tcp", ep: Endpoint{Host: "10.1.1.1:2375"}, host: "tcp://10.1.1.1:2375", sourceHas: "docker block"},
		{name: "block context over the environment", ep: Endpoint{Context: "far"},
			env: map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2375"}, current: "near",
			host: "ssh://deploy@far.example:2222", sourceHas: "docker block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dockerConfig(t, tc.current, ctxs)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r, err := tc.ep.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			if r.Host != tc.host || !strings.Contains(r.Source, tc.sourceHas) {
				t.Errorf("Resolve() = %s (%s), want %s (%s)", r.Host, r.Source, tc.host, tc.sourceHas)
			}
			if _, err := r.ClientOpts(); err != nil {
				t.Errorf("ClientOpts: %v", err)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ep      Endpoint
		env     map[string]string
		current string
		want    string
	}{
		{name: "no such context in the block", ep: Endpoint{Context: "gone"}, want: "no such Docker context"},
		{name: "no such DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "gone"}, want: "gone (from DOCKER_CONTEXT): no such Docker context"},
		{name: "no such current context", current: "gone", want: "no such Docker context"},
		{name: "host and context", ep: Endpoint{Host: "unix:///x.sock", Context: "far"}, want: "not both"},
		{name: "bogus scheme", ep: Endpoint{Host: "bogus://x"}, want: "engine address"},
		{name: "TLS on a socket", ep: Endpoint{Host: "unix:///x.sock", TLSVerify: true}, want: "tcp:// addresses only"},
		{name: "TLS over ssh", ep: Endpoint{Host: "ssh://h", CAFile: "/x"}, want: "tcp:// addresses only"},
		{name: "missing CA file", ep: Endpoint{Host: "tcp://h:2376", CAFile: "/nonexistent/ca.pem"}, want: "TLS files for tcp://h:2376"},
		{name: "bad DOCKER_HOST", env: map[string]string{"DOCKER_HOST": "bogus://x"}, want: "DOCKER_HOST"},
		{name: "broken config.json", current: `"broken`, want: "cannot read the docker CLI's configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dockerConfig(t, tc.current, map[string]string{"far": "ssh://h"})
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r, err := tc.ep.Resolve()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve() = %+v, %v; want an error saying %q", r, err, tc.want)
			}
		})
	}
}

// TestResolveTLS: the block's TLS files reach the client, and a CA means
// verifying against it (as the CLI's --tlsverify --tlscacert).
func TestResolveTLS(t *testing.T) {
	dockerConfig(t, "", nil)
	ca, cert, key := writeCerts(t)
	for _, tc := range []struct {
		ep       Endpoint
		skip     bool
		withCert bool
	}{
		{ep: Endpoint{Host: "tcp://h:2376", CAFile: ca, CertFile: cert, KeyFile: key}, withCert: true},
		{ep: Endpoint{Host: "tcp://h:2376", CertFile: cert, KeyFile: key}, skip: true, withCert: true},
		{ep: Endpoint{Host: "tcp://h:2376", CertFile: cert, KeyFile: key, TLSVerify: true}, withCert: true},
		{ep: Endpoint{Host: "tcp://h:2376", TLSVerify: true}},
	} {
		r, err := tc.ep.Resolve()
		if err != nil {
			t.Fatalf("%+v: %v", tc.ep, err)
		}
		if r.ep.SkipTLSVerify != tc.skip {
			t.Errorf("%+v: SkipTLSVerify = %v", tc.ep, r.ep.SkipTLSVerify)
		}
		if got := r.ep.TLSData != nil && r.ep.TLSData.Cert != nil; got != tc.withCert {
			t.Errorf("%+v: client certificate loaded = %v", tc.ep, got)
		}
		if _, err := r.ClientOpts(); err != nil {
			t.Errorf("%+v: ClientOpts: %v", tc.ep, err)
		}
	}
	// DOCKER_TLS_VERIFY with DOCKER_CERT_PATH, as the CLI.
	t.Setenv("DOCKER_HOST", "tcp://h:2376")
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Setenv("DOCKER_CERT_PATH", filepath.Dir(ca))
	r, err := Endpoint{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ep.SkipTLSVerify || r.ep.TLSData == nil || r.ep.TLSData.CA == nil || r.ep.TLSData.Key == nil {
		t.Errorf("DOCKER_TLS_VERIFY: endpoint %+v lacks the TLS material of DOCKER_CERT_PATH", r.ep)
	}
}

// writeCerts writes a self-signed ca.pem, cert.pem and key.pem.
func writeCerts(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for p, b := range map[string][]byte{ca: certPEM, cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}
