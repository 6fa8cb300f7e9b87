// This file holds Endpoint: how to reach one Docker Engine, and its
// resolution in exactly the docker CLI's order (the plan's docker block,
// else DOCKER_HOST, else DOCKER_CONTEXT, else the current context, else the
// default socket), through the docker CLI's own context store and
// connection helpers, so that `plan` reaches the engine `docker` reaches.
package dockerx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	dcontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	dopts "github.com/docker/cli/opts"
	"github.com/docker/docker/client"
)

// Endpoint is how a plan reaches one Docker Engine: the attributes of a
// docker block. The zero value is "as the docker CLI would": the
// environment, the current context, the default socket. It is recorded in
// journals (steps.EngineRef), so a rollback reaches the same engine; file
// paths in it are absolute.
type Endpoint struct {
	// Host is unix:///path, tcp://host:port or ssh://[user@]host[:port]
	// (through the system ssh and `docker system dial-stdio`, as
	// `docker -H ssh://` does).
	Host string `json:"host,omitempty"`
	// Context names a Docker CLI context (`docker context ls`).
	Context string `json:"context,omitempty"`
	// CAFile, CertFile and KeyFile are the TLS material for a tcp:// Host.
	CAFile   string `json:"ca_file,omitempty"`
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// TLSVerify makes a tcp:// Host use TLS and verify the engine's
	// certificate (against CAFile, else the system's roots).
	TLSVerify bool `json:"tls_verify,omitempty"`
}

// IsZero reports whether e leaves the choice of engine to the environment.
func (e Endpoint) IsZero() bool { return e == Endpoint{} }

// String names the endpoint for messages: its host or context, or what the
// environment would choose.
func (e Endpoint) String() string {
	switch {
	case e.Context != "":
		return "context " + e.Context
	case e.Host != "":
		return e.Host
	}
	return "the default engine"
}

// TLS reports whether a tcp:// endpoint speaks TLS: any TLS file, or
// tls_verify.
func (e Endpoint) TLS() bool {
	return e.CAFile != "" || e.CertFile != "" || e.KeyFile != "" || e.TLSVerify
}

// Resolved is an endpoint made concrete: the address the client dials and
// where that choice came from, for messages.
type Resolved struct {
	// Host is the engine address (unix://, tcp://, ssh://).
	Host string
	// Source says why this engine: "the plan's docker block", "DOCKER_HOST",
	// "context NAME (from DOCKER_CONTEXT)", ...
	Source string
	ep     docker.Endpoint
}

// ClientOpts are the options for a client of the resolved engine (TLS, or
// the ssh connection helper), from the docker CLI's own code.
func (r Resolved) ClientOpts() ([]client.Opt, error) { return r.ep.ClientOpts() }

// ConfigDir is the docker CLI's configuration folder: DOCKER_CONFIG, else
// ~/.docker. It is read on each call (the CLI's config.Dir reads the
// environment once per process, which would pin a test's temporary
// DOCKER_CONFIG, or the absence of one, for good).
func ConfigDir() string {
	if d := os.Getenv(config.EnvOverrideConfigDir); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	return filepath.Join(home, ".docker")
}

// loadConfig reads config.json in ConfigDir (a default one when absent).
func loadConfig() (*configfile.ConfigFile, error) {
	dir := ConfigDir()
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("docker: cannot read the docker CLI's configuration in %s: %w (fix or remove the file, or point DOCKER_CONFIG elsewhere)", dir, err)
	}
	return cfg, nil
}

// defaultContext is the name of the docker CLI's built-in context: the
// environment's DOCKER_HOST, else the default socket.
const defaultContext = "default"

// Resolve finds the engine e designates, in the docker CLI's order. It
// reads the environment and the CLI's configuration and context store but
// dials nothing.
func (e Endpoint) Resolve() (Resolved, error) {
	if e.Context != "" {
		if e.Host != "" {
			return Resolved{}, errors.New("docker: a docker block takes host or context, not both")
		}
		return fromContext(e.Context, "context "+e.Context+" (the plan's docker block)")
	}
	if e.Host != "" {
		return fromHost(e)
	}
	if os.Getenv(client.EnvOverrideHost) != "" {
		return fromEnvironment("DOCKER_HOST")
	}
	if name := os.Getenv("DOCKER_CONTEXT"); name != "" {
		if name == defaultContext {
			return fromEnvironment("the default context (from DOCKER_CONTEXT)")
		}
		return fromContext(name, "context "+name+" (from DOCKER_CONTEXT)")
	}
	cfg, err := loadConfig()
	if err != nil {
		return Resolved{}, err
	}
	if name := cfg.CurrentContext; name != "" && name != defaultContext {
		return fromContext(name, "context "+name+" (the current context, `docker context use`)")
	}
	return fromEnvironment("the default socket")
}

// fromHost is the endpoint of a docker block's host (and TLS files).
func fromHost(e Endpoint) (Resolved, error) {
	host, err := dopts.ParseHost(false, e.Host)
	if err != nil {
		return Resolved{}, fmt.Errorf("docker: engine address %q: %w (use unix:///path/to/docker.sock, tcp://host:port or ssh://user@host[:port])", e.Host, err)
	}
	scheme, _, _ := strings.Cut(host, "://")
	if e.TLS() && scheme != "tcp" {
		return Resolved{}, fmt.Errorf("docker: engine address %q: ca_file, cert_file, key_file and tls_verify apply to tcp:// addresses only", e.Host)
	}
	ep := docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: host}}
	if e.TLS() {
		ep.TLSData, err = dcontext.TLSDataFromFiles(e.CAFile, e.CertFile, e.KeyFile)
		if err != nil {
			return Resolved{}, fmt.Errorf("docker: TLS files for %s: %w", e.Host, err)
		}
		// As the CLI's --tlsverify: a CA given is a CA to verify against.
		ep.SkipTLSVerify = !e.TLSVerify && e.CAFile == ""
	}
	return Resolved{Host: host, Source: "the plan's docker block", ep: ep}, nil
}

// fromEnvironment is the docker CLI's default context: DOCKER_HOST (else
// the default socket) with DOCKER_TLS / DOCKER_TLS_VERIFY and the
// certificates in DOCKER_CERT_PATH (else the config folder).
func fromEnvironment(source string) (Resolved, error) {
	verify := os.Getenv(client.EnvTLSVerify) != ""
	useTLS := verify || os.Getenv("DOCKER_TLS") != ""
	host, err := dopts.ParseHost(useTLS, os.Getenv(client.EnvOverrideHost))
	if err != nil {
		return Resolved{}, fmt.Errorf("docker: DOCKER_HOST=%q: %w", os.Getenv(client.EnvOverrideHost), err)
	}
	if os.Getenv(client.EnvOverrideHost) != "" {
		source = "DOCKER_HOST"
	}
	ep := docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: host}}
	if useTLS {
		certs := os.Getenv(client.EnvOverrideCertPath)
		if certs == "" {
			certs = ConfigDir()
		}
		files := []string{filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")}
		for i := 1; i < 3; i++ { // as the CLI: a missing default cert or key is no cert or key
			if _, err := os.Stat(files[i]); os.IsNotExist(err) {
				files[i] = ""
			}
		}
		if ep.TLSData, err = dcontext.TLSDataFromFiles(files[0], files[1], files[2]); err != nil {
			return Resolved{}, fmt.Errorf("docker: TLS files for %s (DOCKER_CERT_PATH): %w", host, err)
		}
		ep.SkipTLSVerify = !verify
	}
	return Resolved{Host: host, Source: source, ep: ep}, nil
}

// contextStoreConfig reads the docker endpoint of contexts; other
// endpoints (kubernetes, once) and the context's own metadata are kept as
// untyped maps.
var contextStoreConfig = store.NewConfig(
	func() any { return &map[string]any{} },
	store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} }),
)

// fromContext is the docker endpoint of the named Docker CLI context.
func fromContext(name, source string) (Resolved, error) {
	if name == defaultContext {
		return fromEnvironment("the default context")
	}
	s := store.New(filepath.Join(ConfigDir(), "contexts"), contextStoreConfig)
	meta, err := s.GetMetadata(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || cerrdefs.IsNotFound(err) {
			return Resolved{}, fmt.Errorf("docker: %s: no such Docker context in %s (see `docker context ls`)", source, filepath.Join(ConfigDir(), "contexts"))
		}
		return Resolved{}, fmt.Errorf("docker: %s: %w", source, err)
	}
	em, err := docker.EndpointFromContext(meta)
	if err != nil {
		return Resolved{}, fmt.Errorf("docker: %s: %w", source, err)
	}
	ep, err := docker.WithTLSData(s, name, em)
	if err != nil {
		return Resolved{}, fmt.Errorf("docker: %s: its TLS files: %w", source, err)
	}
	return Resolved{Host: ep.Host, Source: source, ep: ep}, nil
}
