package test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// Env returns an environment variable (a seam for test knobs).
func Env(name string) string { return os.Getenv(name) }

// LogWriter returns a writer that sends each write to t.Log.
func LogWriter(t testing.TB) io.Writer { return logWriter{t} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a server's
// logs, a process's output (written from other goroutines, also after the
// test has ended).
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a text logger at level and above that writes into a
// SyncBuffer, printed with t.Log only if the test fails.
func Logger(t testing.TB, level slog.Level) (*slog.Logger, *SyncBuffer) {
	t.Helper()
	lb := new(SyncBuffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: level})), lb
}
