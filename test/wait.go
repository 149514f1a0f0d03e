package test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/test/wait"
)

// WaitFor polls cond (see wait.For) until it returns nil or timeout
// passes; then it fails the test with cond's last error.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := wait.For(t.Context(), timeout, cond); err != nil {
		t.Fatalf("condition not met: %v", err)
	}
}
