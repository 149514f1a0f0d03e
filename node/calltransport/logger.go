package calltransport

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/pion/logging"
)

// levelTrace is where pion's Trace level lands: below Debug, so it shows
// only when a handler is set to it explicitly.
const levelTrace = slog.LevelDebug - 4

// pionLogFactory adapts a *slog.Logger to pion's logging.LoggerFactory.
// pion logs routine events (a stray datagram, an empty checklist while the
// first candidates are on their way, every state change) at Info and Warn,
// some of them every check interval, so its levels are shifted down:
// Trace→trace, Debug/Info/Warn→Debug, Error→Warn. This package logs what
// matters to an operator (state changes, the selected path) itself.
//
// pion also logs the remote ICE password at Debug when checks start, so
// every message is scrubbed of the leg's secrets before it is logged.
type pionLogFactory struct {
	l       *slog.Logger
	secrets *atomic.Pointer[[]string]
}

func newPionLogFactory(l *slog.Logger, secrets []string) *pionLogFactory {
	f := &pionLogFactory{l: l, secrets: new(atomic.Pointer[[]string])}
	f.secrets.Store(&secrets)
	return f
}

// addSecret adds s to the strings scrubbed from pion's messages.
func (f *pionLogFactory) addSecret(s string) {
	for {
		old := f.secrets.Load()
		next := append(append([]string(nil), *old...), s)
		if f.secrets.CompareAndSwap(old, &next) {
			return
		}
	}
}

// NewLogger implements logging.LoggerFactory.
func (f *pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{l: f.l.With("scope", "pion/"+scope), secrets: f.secrets}
}

type pionLogger struct {
	l       *slog.Logger
	secrets *atomic.Pointer[[]string]
}

func (p pionLogger) log(level slog.Level, msg string) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, p.scrub(msg))
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, p.scrub(fmt.Sprintf(format, args...)))
}

func (p pionLogger) scrub(msg string) string {
	for _, s := range *p.secrets.Load() {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

func (p pionLogger) Trace(msg string)                  { p.log(levelTrace, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(levelTrace, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelWarn, format, args...) }
