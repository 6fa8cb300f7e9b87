// This file holds Connect: a client for one engine, as the docker CLI
// reaches it, negotiated and pinged, with its errors worded for the user.
package dockerx

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// PingTimeout bounds Connect's check that the engine answers, so a plan
// pointing at a dead TCP host fails in seconds rather than hanging.
const PingTimeout = 10 * time.Second

// Connect returns a client for the Docker Engine at host ("" = as the
// docker CLI chooses: DOCKER_HOST, DOCKER_CONTEXT, the current context, the
// default socket). See ConnectEndpoint.
func Connect(host string) (*client.Client, error) {
	return ConnectContext(context.Background(), host)
}

// ConnectContext is Connect bounded by ctx as well as PingTimeout.
func ConnectContext(ctx context.Context, host string) (*client.Client, error) {
	return ConnectEndpoint(ctx, Endpoint{Host: host})
}

// ConnectEndpoint returns a client for the Docker Engine ep designates (see
// Endpoint.Resolve). The API version is negotiated, since the engines
// Nonstop meets are older than this client (Docker 20.10 speaks API 1.41).
// The engine is pinged before returning so that an unreachable one is
// reported up front, with how to fix it, rather than as the first step's
// failure. ctx bounds the ping, as well as PingTimeout.
func ConnectEndpoint(ctx context.Context, ep Endpoint) (*client.Client, error) {
	r, err := ep.Resolve()
	if err != nil {
		return nil, err
	}
	opts, err := r.ClientOpts()
	if err != nil {
		return nil, fmt.Errorf("docker: cannot set up a client for the engine at %s (%s): %w", r.Host, r.Source, err)
	}
	cli, err := client.NewClientWithOpts(append(opts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, fmt.Errorf("docker: cannot set up a client for the engine at %s (%s): %w (expected an address like unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host)", r.Host, r.Source, err)
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	ping, err := cli.Ping(ctx)
	if err != nil {
		_ = cli.Close()
		hint := "set DOCKER_HOST, `docker context use` or the plan's docker block to the engine's address"
		if !ep.IsZero() {
			hint = "check the host or context in the plan's docker block"
		}
		where := fmt.Sprintf("%s (%s)", r.Host, r.Source)
		if client.IsErrConnectionFailed(err) {
			// Its text is "Cannot connect to the Docker daemon at X. Is
			// the docker daemon running?": keep the cause, not the text.
			return nil, fmt.Errorf("docker: the engine at %s does not answer (nothing accepts connections there). Is the Docker daemon running there (systemctl status docker)? Else %s, and check this user may use its socket (docker group)%w",
				where, hint, silent{err})
		}
		return nil, fmt.Errorf("docker: the engine at %s does not answer: %w. Is the Docker daemon running there (systemctl status docker)? Else %s, and check this user may use its socket (docker group)", where, err, hint)
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
