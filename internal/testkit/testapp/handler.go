// This file holds the test app's HTTP handler and its fault knobs, read from
// the environment.
package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// config holds the knobs read from the environment (see the package doc).
type config struct {
	Port          string
	Message       string
	Fail          bool
	Slow          time.Duration
	StartDelay    time.Duration
	IgnoreSIGTERM bool
	CrashAfter    time.Duration
}

// configFromEnv reads the knobs through getenv (os.Getenv in main).
func configFromEnv(getenv func(string) string) (config, error) {
	c := config{Port: getenv("PORT"), Message: getenv("MESSAGE")}
	if c.Port == "" {
		c.Port = "3000"
	}
	var err error
	if c.Fail, err = flag(getenv, "FAIL"); err != nil {
		return c, err
	}
	if c.IgnoreSIGTERM, err = flag(getenv, "IGNORE_SIGTERM"); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"SLOW", &c.Slow}, {"START_DELAY", &c.StartDelay}, {"CRASH_AFTER", &c.CrashAfter}} {
		if *d.dst, err = duration(d.name, getenv(d.name)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// flag accepts "", "0", "false" as off and "1", "true" as on.
func flag(getenv func(string) string, name string) (bool, error) {
	switch v := getenv(name); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
	}
}

// duration parses a Go duration ("1.5s", "200ms"); empty is zero.
func duration(name, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration like 2s or 500ms", name, v)
	}
	return d, nil
}

// newHandler answers like bithavoc/hello-world-env, plus the fault knobs.
func newHandler(c config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body like a real app would (POST load tests send one).
		_, _ = io.Copy(io.Discard, r.Body)

		delay := c.Slow
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := duration("sleep", s)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			delay += d
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done(): // client gone
				t.Stop()
				return
			}
		}

		if c.Fail {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "FAIL=1: failing on purpose! %s", c.Message)
			return
		}
		if r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok")
			return
		}
		// The original's exact format: no trailing newline, Content-Type sniffed
		// (text/plain; charset=utf-8).
		fmt.Fprintf(w, "Hi there, I love %s! %s", strings.TrimPrefix(r.URL.Path, "/"), c.Message)
	})
}
