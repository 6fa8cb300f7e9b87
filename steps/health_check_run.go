// This file runs the health_check step: N consecutive passes of its probe,
// with errors that never show sensitive values.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
)

// Preflight implements Spec. The container may be replaced by an
// earlier step, so it is looked up at run time, not here. What is checked
// is that the probe can reach what it probes from where plan runs (see
// reachable).
func (s *HealthCheckSpec) Preflight(ctx context.Context, env *Env) []error {
	if err := s.reachable(); err != nil {
		return []error{err}
	}
	return nil
}

// Apply implements Spec: probe every interval until healthy_threshold
// consecutive probes pass, or the step's deadline passes. A container that
// stops running fails the step at once rather than at the deadline.
func (s *HealthCheckSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	rec, err := s.apply(ctx, env, note)
	return rec, dsl.At(err, "Not healthy", s.Container.Range)
}

func (s *HealthCheckSpec) apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	ref := engineRef(s.Engine)
	cli, err := env.Engine(ctx, ref.Endpoint)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var lastErr error
	ok, probes := 0, 0
	tick := time.NewTicker(s.Interval.Value)
	defer tick.Stop()
	for {
		c, err := dockerx.FindContainer(ctx, cli, s.Container.Value, ref.ComposeProject)
		if err == nil {
			if running, state, rerr := dockerx.Running(ctx, cli, c.ID); rerr == nil && !running && time.Since(start) > s.StartPeriod.Value {
				return nil, fmt.Errorf("%s is not running (%s): it cannot become healthy", shown(s.Container), state)
			}
			err = s.probe(ctx, cli, c.ID)
		}
		probes++
		if err == nil {
			ok++
			if ok >= s.HealthyThreshold.Value {
				note(fmt.Sprintf("healthy after %s (%d probes)", time.Since(start).Round(time.Millisecond), probes))
				return json.RawMessage(`{}`), nil
			}
		} else {
			ok = 0
			if ctx.Err() == nil {
				// A probe cut short by the deadline says nothing about
				// the container; keep the last real answer.
				lastErr = err
			}
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no probe completed")
			}
			return nil, fmt.Errorf("%s did not become healthy in %s: last probe: %v", shown(s.Container), time.Since(start).Round(time.Millisecond), lastErr)
		case <-tick.C:
		}
	}
}

func (s *HealthCheckSpec) probe(ctx context.Context, cli client.APIClient, id string) error {
	switch {
	case s.HTTP != nil:
		ip, err := s.httpTarget(ctx, cli, id)
		if err != nil {
			return err
		}
		return s.HTTP.check(ctx, ip)
	case s.TCP != nil:
		ip, err := dockerx.ContainerIP(ctx, cli, id, s.TCP.Network.Value)
		if err != nil {
			return err
		}
		d := net.Dialer{Timeout: s.TCP.Timeout.Value}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(s.TCP.Port.Value)))
		if err != nil {
			return err
		}
		return conn.Close()
	case s.Docker != nil:
		st, err := dockerx.HealthStatus(ctx, cli, id)
		if err != nil {
			return err
		}
		if st == "none" {
			return errors.New("the container has no HEALTHCHECK; use an http, tcp or exec probe instead")
		}
		if st != "healthy" {
			return fmt.Errorf("HEALTHCHECK status is %q", st)
		}
		return nil
	case s.Exec != nil:
		code, out, err := dockerx.Exec(ctx, cli, id, s.Exec.Command.Value)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command exited %d: %s", code, truncate(strings.TrimSpace(out), 200))
		}
		return nil
	}
	return errors.New("no probe configured")
}

// check sends one request to ip and compares the answer with what the
// probe expects. Its errors never show a sensitive value: not the expected
// body or headers, not a path that derives from a sensitive variable.
func (h *HTTPProbe) check(ctx context.Context, ip string) error {
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(h.Port.Value)) + h.Path.Value
	shownURL := url
	if h.Path.Sensitive {
		shownURL = "http://" + net.JoinHostPort(ip, strconv.Itoa(h.Port.Value)) + "/(sensitive)"
	}
	rctx, cancel := context.WithTimeout(ctx, h.Timeout.Value)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, h.Method.Value, url, nil)
	if err != nil {
		if h.Path.Sensitive {
			return fmt.Errorf("%s %s: invalid request", h.Method.Value, shownURL)
		}
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) && h.Path.Sensitive {
			return fmt.Errorf("%s %s: %w", h.Method.Value, shownURL, ue.Err)
		}
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != h.ExpectStatus.Value {
		return fmt.Errorf("%s %s answered %d, want %d", h.Method.Value, shownURL, resp.StatusCode, h.ExpectStatus.Value)
	}
	if h.ExpectBody.Set && !strings.Contains(string(body), h.ExpectBody.Value) {
		shown := fmt.Sprintf("%q", truncate(string(body), 120))
		if h.ExpectBody.Sensitive {
			shown = "a body without the expected (sensitive) text"
		}
		return fmt.Errorf("%s %s answered %s; expected it to contain %s", h.Method.Value, shownURL, shown, expectText(h.ExpectBody.Value, h.ExpectBody.Sensitive))
	}
	for _, k := range slices.Sorted(maps.Keys(h.ExpectHeaders.Value)) {
		want := h.ExpectHeaders.Value[k]
		if got := resp.Header.Get(k); got != want {
			if h.ExpectHeaders.Sensitive {
				return fmt.Errorf("%s %s: a header does not have the expected (sensitive) value", h.Method.Value, shownURL)
			}
			return fmt.Errorf("%s %s: header %s is %q, want %q", h.Method.Value, shownURL, k, got, want)
		}
	}
	return nil
}

// httpTarget is the address an http probe goes to: the container on its
// network, or with via_nginx the load balancer (its container's address, or
// loopback for nginx on this host).
func (s *HealthCheckSpec) httpTarget(ctx context.Context, cli client.APIClient, id string) (string, error) {
	h := s.HTTP
	if !h.ViaNginx.Value {
		return dockerx.ContainerIP(ctx, cli, id, h.Network.Value)
	}
	if s.Nginx.Container.Value == "" {
		return "127.0.0.1", nil
	}
	c, err := cli.ContainerInspect(ctx, s.Nginx.Container.Value)
	if err != nil {
		return "", fmt.Errorf("finding the nginx container: %w", err)
	}
	return dockerx.ContainerIP(ctx, cli, c.ID, h.Network.Value)
}

// probeClient never reuses connections: each probe must reach the current
// container, not one a kept-alive connection was made to.
var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func expectText(v string, sensitive bool) string {
	if sensitive {
		return "(sensitive)"
	}
	return fmt.Sprintf("%q", v)
}

func parseDurationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	return def
}

// Undo implements Type: a health check changes nothing.
func (HealthCheck) Undo(context.Context, *Env, json.RawMessage, func(string)) error { return nil }

// ChangesNothing implements ChangesNothing.
func (*HealthCheckSpec) ChangesNothing() {}
