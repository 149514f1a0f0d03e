package test

import (
	"testing"
	"time"
)

// WaitFor polls cond every few milliseconds until it returns nil or timeout
// passes; then it fails the test with cond's last error.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(delay) // polling interval, not a wait for state
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}
