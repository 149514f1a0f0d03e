// Package wait is the one poll loop of Parley's tests, benches and demo:
// call a condition until it holds, with a deadline, never sleeping for a
// state. It also holds the checks most of them poll for (a contact in a
// state, a call in a state). It imports no testing package, so binaries
// (the bench, the NAT lab's command, the demo) use it too.
package wait

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is returned (wrapped, with the condition's last error) when
// the timeout passes before the condition holds.
var ErrTimeout = errors.New("timed out")

// Polling intervals: the first retry comes quickly, later ones back off.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = 100 * time.Millisecond
)

// stopped marks an error after which For gives up at once.
type stopped struct{ error }

func (s stopped) Unwrap() error { return s.error }

// Stop wraps err so that For returns err at once instead of polling on: a
// process died, a call ended while another state was awaited. Stop(nil)
// is nil.
func Stop(err error) error {
	if err == nil {
		return nil
	}
	return stopped{err}
}

// For calls cond until it returns nil, and then returns nil. It gives up
// when timeout passes (an error wrapping ErrTimeout and cond's last
// error), when ctx ends (wrapping ctx.Err() and the last error), or at
// once when cond returns an error made by Stop (that error, unwrapped).
// A timeout of zero or less means only ctx bounds the wait.
func For(ctx context.Context, timeout time.Duration, cond func() error) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTimer(0)
	defer tick.Stop()
	<-tick.C
	for delay := firstDelay; ; delay = min(2*delay, maxDelay) {
		err := cond()
		if err == nil {
			return nil
		}
		if s, ok := errors.AsType[stopped](err); ok {
			return s.error
		}
		tick.Reset(delay)
		select {
		case <-tick.C: // the polling interval, not a wait for a state
		case <-deadline:
			return fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
}
