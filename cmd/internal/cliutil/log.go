package cliutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// LogFlags are the logging flags of the long-running binaries.
type LogFlags struct {
	LogLevel  string `env:"PARLEY_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat string `env:"PARLEY_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
}

// Logger builds the slog logger the flags describe, writing to w.
func (f LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// MinLevel wraps h so that records below level are dropped.
func MinLevel(h slog.Handler, level slog.Level) slog.Handler {
	return minLevel{h, level}
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.min}
}
