// This file holds the operator log every command shares: its level and
// format from PLAN_LOG and PLAN_LOG_FORMAT (as Terraform's TF_LOG), a
// command's -log-level flag over them, and the logger built from both.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// Environment variables that set the log for every command.
const (
	logEnv       = "PLAN_LOG"
	logFormatEnv = "PLAN_LOG_FORMAT"
)

// logTimeFormat is RFC 3339 with milliseconds: steps that overlap are
// told apart by the millisecond, not the second.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// zerolog keeps its field formats in package variables. They are set once
// here, before main runs, and never changed: timestamps with milliseconds,
// durations as Go writes them ("12.5ms", "1m3s") rather than a bare number
// whose unit the reader has to guess.
func init() {
	zerolog.TimeFieldFormat = logTimeFormat
	zerolog.DurationFieldFormat = zerolog.DurationFormatString
}

// logLevels are the levels PLAN_LOG and -log-level accept, quietest last.
var logLevels = map[string]zerolog.Level{
	"debug": zerolog.DebugLevel,
	"info":  zerolog.InfoLevel,
	"warn":  zerolog.WarnLevel,
	"error": zerolog.ErrorLevel,
}

// logSettings are the log's level and format for one run of plan.
type logSettings struct {
	level zerolog.Level
	json  bool
}

// parseLogLevel reads a level, in any case (TF_LOG users type DEBUG).
func parseLogLevel(from, s string) (zerolog.Level, error) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, nil
	}
	return zerolog.NoLevel, fmt.Errorf("%s%q is not a log level; use debug, info, warn or error", from, s)
}

// logFromEnv reads PLAN_LOG and PLAN_LOG_FORMAT. Unset, the log shows
// warnings and errors, as text. A value that means nothing is an error,
// not a silent default: a user who asked for debug output and got none
// would look for the bug in the wrong place.
func logFromEnv() (logSettings, error) {
	s := logSettings{level: zerolog.WarnLevel}
	if v, ok := os.LookupEnv(logEnv); ok && v != "" {
		l, err := parseLogLevel(logEnv+"=", v)
		if err != nil {
			return s, err
		}
		s.level = l
	}
	switch f := strings.ToLower(os.Getenv(logFormatEnv)); f {
	case "", "text":
	case "json":
		s.json = true
	default:
		return s, fmt.Errorf("%s=%q is not a log format; use json, or text (the default)", logFormatEnv, os.Getenv(logFormatEnv))
	}
	return s, nil
}

// logger returns the operator log, written to w (stderr, or a writer
// over it that hides sensitive values). flagLevel, a command's -log-level,
// wins over PLAN_LOG when given. Text is one line per event with a
// millisecond timestamp and no colour; PLAN_LOG_FORMAT=json gives one JSON
// object per line.
func (m *meta) logger(w io.Writer, flagLevel string) (zerolog.Logger, error) {
	level := m.log.level
	if flagLevel != "" {
		l, err := parseLogLevel("-log-level ", flagLevel)
		if err != nil {
			return zerolog.Nop(), err
		}
		level = l
	}
	if !m.log.json {
		w = zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: logTimeFormat}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
