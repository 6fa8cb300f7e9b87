// This file waits for the topology to answer and reads from it: polling
// through nginx until every app has answered, and the diagnostics when one
// does not.
package seedtopo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// poll GETs url until each of apps has answered (its MESSAGE at the end of
// the body, whatever the status) or ctx ends. It returns the services that
// answered and a description of the last response.
// check, when not nil, is called about once a second while answers fail; an
// error from it ends the wait (e.g. the container exited).
func (t *Topology) poll(ctx context.Context, c *http.Client, url string, apps []App, check func() error) (map[string]bool, string) {
	answered := map[string]bool{}
	var last string
	lastCheck := time.Now()
	for {
		body, status, err := getURL(ctx, c, url)
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %q", status, tailString(body, 300))
			for _, a := range apps {
				if strings.HasSuffix(body, " "+a.Message) {
					answered[a.Service] = true
				}
			}
		}
		if len(answered) == len(apps) {
			return answered, last
		}
		if check != nil && err != nil && time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if cerr := check(); cerr != nil {
				return answered, cerr.Error()
			}
		}
		if err != nil || status >= 500 {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return answered, last
		}
	}
}

// notReady explains which apps never answered, with their state and logs.
func (t *Topology) notReady(where string, answered map[string]bool, last string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var b strings.Builder
	var missing []string
	for _, a := range t.Apps {
		if !answered[a.Service] {
			missing = append(missing, a.Service)
		}
	}
	fmt.Fprintf(&b, "seedtopo: %s did not answer %s (timeout %s; last response: %s)",
		strings.Join(missing, ", "), where, timeout, last)
	for _, a := range t.Apps {
		if !answered[a.Service] {
			fmt.Fprintf(&b, "\n--- %s (%s): %s", a.Service, a.Container, t.describe(ctx, a.ID))
		}
	}
	switch {
	case t.URL == "": // nginx not started yet
	case t.NginxContainer != "":
		fmt.Fprintf(&b, "\n--- nginx (%s): %s", t.NginxContainer, t.describe(ctx, t.NginxContainer))
	default:
		fmt.Fprintf(&b, "\n--- nginx on the host, error.log:\n%s", tailFile(filepath.Join(t.Dir, "logs", "error.log"), 2000))
	}
	return errors.New(b.String())
}

// describe is a container's state and the tail of its logs.
func (t *Topology) describe(ctx context.Context, id string) string {
	ins, err := t.cli.ContainerInspect(ctx, id)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s (exit %d, %s)\n%s", ins.State.Status, ins.State.ExitCode, ins.State.Error, t.containerLogs(ctx, id))
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return tailString(string(b), n)
}

// Get does one GET of URL through nginx and returns the body; a status other
// than 200 is an error (the body is returned too).
func (t *Topology) Get(ctx context.Context) (body string, err error) {
	body, status, err := t.get(ctx)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d: %s", t.URL, status, tailString(body, 300))
	}
	return body, err
}

func (t *Topology) get(ctx context.Context) (string, int, error) {
	return getURL(ctx, t.http, t.URL)
}

func getURL(ctx context.Context, c *http.Client, url string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return string(b), resp.StatusCode, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	return string(b), resp.StatusCode, nil
}
