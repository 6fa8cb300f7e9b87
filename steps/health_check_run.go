package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
)

// Preflight implements Runnable. The container may be replaced by an
// earlier step, so it is looked up at run time, not here.
func (s *HealthCheckSpec) Preflight(ctx context.Context, env *Env) []error { return nil }

// Apply implements Runnable: probe every interval until healthy_threshold
// consecutive probes pass, or the step's deadline passes. A container that
// stops running fails the step at once rather than at the deadline.
func (s *HealthCheckSpec) Apply(ctx context.Context, env *Env, note func(string)) (json.RawMessage, error) {
	ref := engineRef(s.Engine)
	cli, err := env.Engine(ref.Endpoint)
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
				return nil, fmt.Errorf("%s is not running (%s): it cannot become healthy", s.Container.Value, state)
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
			return nil, fmt.Errorf("%s did not become healthy in %s: last probe: %v", s.Container.Value, time.Since(start).Round(time.Millisecond), lastErr)
		case <-tick.C:
		}
	}
}

func (s *HealthCheckSpec) probe(ctx context.Context, cli client.APIClient, id string) error {
	switch {
	case s.HTTP != nil:
		h := s.HTTP
		ip, err := s.httpTarget(ctx, cli, id)
		if err != nil {
			return err
		}
		url := "http://" + net.JoinHostPort(ip, strconv.Itoa(h.Port.Value)) + h.Path.Value
		rctx, cancel := context.WithTimeout(ctx, h.Timeout.Value)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, h.Method.Value, url, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != h.ExpectStatus.Value {
			return fmt.Errorf("%s %s answered %d, want %d", h.Method.Value, url, resp.StatusCode, h.ExpectStatus.Value)
		}
		if h.ExpectBody.Set && !strings.Contains(string(body), h.ExpectBody.Value) {
			shown := fmt.Sprintf("%q", truncate(string(body), 120))
			if h.ExpectBody.Sensitive {
				shown = "a body without the expected (sensitive) text"
			}
			return fmt.Errorf("%s %s answered %s; expected it to contain %s", h.Method.Value, url, shown, expectText(h.ExpectBody.Value, h.ExpectBody.Sensitive))
		}
		for k, v := range h.ExpectHeaders.Value {
			if got := resp.Header.Get(k); got != v {
				return fmt.Errorf("%s %s: header %s is %q, want %q", h.Method.Value, url, k, got, v)
			}
		}
		return nil
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
