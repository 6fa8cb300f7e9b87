package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLogEnvErrors: a PLAN_LOG or PLAN_LOG_FORMAT that means nothing, or
// a bad -log-level, is an error (exit 1) that names the value and the
// choices, for every command, before anything runs.
func TestLogEnvErrors(t *testing.T) {
	cases := []struct {
		name, env, val string
		args           []string
		want           string
	}{
		{"bad level, validate", "PLAN_LOG", "bogus", []string{"validate", rollingUpdate}, `PLAN_LOG="bogus" is not a log level; use debug, info, warn or error`},
		{"bad level, version", "PLAN_LOG", "trace2", []string{"version"}, `"trace2" is not a log level`},
		{"bad level, fmt", "PLAN_LOG", "loud", []string{"fmt", "-check", rollingUpdate}, `"loud" is not a log level`},
		{"bad level, rollback", "PLAN_LOG", "x", []string{"rollback", rollingUpdate}, `"x" is not a log level`},
		{"bad format", "PLAN_LOG_FORMAT", "xml", []string{"show", rollingUpdate}, `PLAN_LOG_FORMAT="xml" is not a log format; use json, or text`},
		{"bad -log-level", "", "", []string{"apply", "-log-level", "verbose", rollingUpdate}, `-log-level "verbose" is not a log level`},
		{"bad rollback -log-level", "", "", []string{"rollback", "-log-level", "verbose", rollingUpdate}, `-log-level "verbose" is not a log level`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv(c.env, c.val)
			}
			code, stdout, stderr := plan(t, c.args...)
			if code != 1 || !strings.Contains(stderr, c.want) || !strings.HasPrefix(stderr, "Error: ") {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
		})
	}
	// Valid values, in any case, change nothing on stdout.
	for _, v := range []string{"debug", "INFO", "Warn", "error"} {
		t.Setenv("PLAN_LOG", v)
		t.Setenv("PLAN_LOG_FORMAT", "json")
		if code, stdout, stderr := plan(t, "validate", rollingUpdate); code != 0 || stdout != "Success! The plan is valid.\n" || stderr != "" {
			t.Errorf("PLAN_LOG=%s: exit %d, %q, %q", v, code, stdout, stderr)
		}
	}
}

var millis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

// TestLogFormat: the logger every command builds (apply's and rollback's)
// stamps each line with milliseconds, writes durations with their unit,
// honours the level, and with PLAN_LOG_FORMAT=json writes one JSON object
// per line. Rollback's logger used to have no timestamp at all and print
// "<nil>" in its place.
func TestLogFormat(t *testing.T) {
	cases := []struct {
		name, level, format, flag string
		lines                     int
	}{
		{"default warn", "", "", "", 2},
		{"debug", "debug", "", "", 3},
		{"error", "ERROR", "", "", 1},
		{"flag over env", "error", "", "debug", 3},
		{"json", "info", "json", "", 2},
		{"json debug", "debug", "json", "", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PLAN_LOG", c.level)
			t.Setenv("PLAN_LOG_FORMAT", c.format)
			s, err := logFromEnv()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			m := &meta{log: s}
			log, err := m.logger(&buf, c.flag)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug().Dur("took", 1500*time.Microsecond).Msg("nginx: config test passed")
			log.Warn().Dur("took", 2*time.Second).Msg("slow drain")
			log.Error().Msg("failed")
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != c.lines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), c.lines, buf.String())
			}
			for _, l := range lines {
				if strings.Contains(l, "<nil>") || strings.Contains(l, "\x1b[") {
					t.Errorf("line has <nil> or a colour: %q", l)
				}
				if c.format == "json" {
					var obj map[string]any
					if err := json.Unmarshal([]byte(l), &obj); err != nil {
						t.Fatalf("not JSON: %q: %v", l, err)
					}
					ts, _ := obj["time"].(string)
					if !millis.MatchString(ts) {
						t.Errorf("time %q has no milliseconds", ts)
					}
					if obj["level"] == "warn" && obj["took"] != "2s" {
						t.Errorf("took = %v, want \"2s\"", obj["took"])
					}
					continue
				}
				ts, _, _ := strings.Cut(l, " ")
				if !millis.MatchString(ts) {
					t.Errorf("line does not start with a millisecond timestamp: %q", l)
				}
			}
			if c.format == "" && c.lines == 3 && !strings.Contains(lines[0], "took=1.5ms") {
				t.Errorf("duration without its unit: %q", lines[0])
			}
		})
	}
}
