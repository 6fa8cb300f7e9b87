// This file holds Connect: a client for one engine, negotiated and pinged,
// with its errors worded for the user.
package dockerx

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// PingTimeout bounds Connect's check that the engine answers, so a plan
// pointing at a dead TCP host fails in seconds rather than hanging.
const PingTimeout = 10 * time.Second

// Connect returns a client for the Docker Engine at host ("" = the
// environment: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, else the local
// socket). The API version is negotiated, since the engines Nonstop meets are
// older than this client (Docker 20.10 speaks API 1.41). The engine is pinged
// before returning so that an unreachable one is reported up front, with how
// to fix it, rather than as the first step's failure.
func Connect(host string) (*client.Client, error) {
	return ConnectContext(context.Background(), host)
}

// ConnectContext is Connect bounded by ctx as well as PingTimeout.
func ConnectContext(ctx context.Context, host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if scheme, _, ok := strings.Cut(host, "://"); ok && !slices.Contains([]string{"unix", "tcp", "http", "https", "npipe"}, scheme) {
		hint := ""
		if scheme == "ssh" {
			hint = "; for a remote engine over SSH, forward its socket (ssh -L /tmp/docker.sock:/var/run/docker.sock host) and use unix:///tmp/docker.sock"
		}
		return nil, fmt.Errorf("docker: unsupported engine address %q: use unix:///path/to/docker.sock or tcp://host:port%s", host, hint)
	}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		where := host
		if where == "" {
			where = "from the environment (DOCKER_HOST)"
		}
		return nil, fmt.Errorf("docker: cannot set up a client for the engine at %s: %w (expected an address like unix:///var/run/docker.sock or tcp://host:2376)", where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	ping, err := cli.Ping(ctx)
	if err != nil {
		_ = cli.Close()
		hint := "set DOCKER_HOST or the plan's docker block to the engine's address"
		if host != "" {
			hint = "check the host in the plan's docker block"
		}
		if client.IsErrConnectionFailed(err) {
			// Its text is "Cannot connect to the Docker daemon at X. Is
			// the docker daemon running?": keep the cause, not the text.
			return nil, fmt.Errorf("docker: the engine at %s does not answer (nothing accepts connections there). Is the Docker daemon running there (systemctl status docker)? Else %s, and check this user may use its socket (docker group)%w",
				cli.DaemonHost(), hint, silent{err})
		}
		return nil, fmt.Errorf("docker: the engine at %s does not answer: %w. Is the Docker daemon running there (systemctl status docker)? Else %s, and check this user may use its socket (docker group)", cli.DaemonHost(), err, hint)
	}
	// Settle the version now rather than on the first request, so
	// ClientVersion tells the truth from here on.
	cli.NegotiateAPIVersionPing(ping)
	return cli, nil
}

// silent wraps an error for errors.Is/As without adding its text.
type silent struct{ err error }

// Error is empty: the surrounding message already says it in plain words.
func (s silent) Error() string { return "" }

// Unwrap keeps the cause matchable with errors.Is.
func (s silent) Unwrap() error { return s.err }
