package test

import (
	"io"
	"os"
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
