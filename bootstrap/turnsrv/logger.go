package turnsrv

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is where pion's Trace level lands in slog: below Debug, so it
// shows only when a handler is set to it explicitly.
const levelTrace = slog.LevelDebug - 4

// slogFactory adapts a *slog.Logger to pion's logging.LoggerFactory. Each
// pion scope becomes a "scope" attribute.
type slogFactory struct {
	l *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{l: f.l.With("scope", scope)}
}

// slogLeveled adapts a *slog.Logger to pion's logging.LeveledLogger. pion
// formats printf-style, so the formatting is done only when the level is
// enabled: pion logs every datagram at Debug. pion's Info is per packet or
// per allocation ("No Permission or Channel exists for …" for every
// datagram a peer sends before the client permits it), so it lands at
// Debug; the server logs and counts what an operator needs itself.
type slogLeveled struct {
	l *slog.Logger
}

func (s slogLeveled) log(level slog.Level, msg string) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, msg)
}

func (s slogLeveled) logf(level slog.Level, format string, args ...any) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (s slogLeveled) Trace(msg string)                  { s.log(levelTrace, msg) }
func (s slogLeveled) Tracef(format string, args ...any) { s.logf(levelTrace, format, args...) }
func (s slogLeveled) Debug(msg string)                  { s.log(slog.LevelDebug, msg) }
func (s slogLeveled) Debugf(format string, args ...any) { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Info(msg string)                   { s.log(slog.LevelDebug, msg) }
func (s slogLeveled) Infof(format string, args ...any)  { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Warn(msg string)                   { s.log(slog.LevelWarn, msg) }
func (s slogLeveled) Warnf(format string, args ...any)  { s.logf(slog.LevelWarn, format, args...) }
func (s slogLeveled) Error(msg string)                  { s.log(slog.LevelError, msg) }
func (s slogLeveled) Errorf(format string, args ...any) { s.logf(slog.LevelError, format, args...) }
