package wait

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// TestFor: success after a few calls, a timeout carrying the last error,
// Stop ending the wait at once, and cancellation.
func TestFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := 0
	if err := For(ctx, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("For = %v after %d calls, want nil after 3", err, n)
	}
	errLast := errors.New("last")
	if err := For(ctx, 20*time.Millisecond, func() error { return errLast }); !errors.Is(err, errLast) || !errors.Is(err, ErrTimeout) {
		t.Errorf("For timing out = %v, want ErrTimeout and the last error", err)
	}
	start := time.Now()
	if err := For(ctx, time.Minute, func() error { return Stop(errLast) }); err != errLast || time.Since(start) > time.Second {
		t.Errorf("For with Stop = %v after %v, want the stopping error at once", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := For(cctx, time.Minute, func() error { return errLast }); !errors.Is(err, context.Canceled) || !errors.Is(err, errLast) {
		t.Errorf("For on a cancelled context = %v", err)
	}
	if Stop(nil) != nil {
		t.Error("Stop(nil) is not nil")
	}
}

func TestContact(t *testing.T) {
	t.Parallel()
	cs := []apitype.Contact{
		{AccountID: "a", State: "accepted"},
		{AccountID: "b", State: "request-sent", Pending: true},
	}
	tests := []struct {
		name, account, state string
		ok                   bool
	}{
		{"in the state", "a", "accepted", true},
		{"another state", "a", "request-sent", false},
		{"pending", "b", "request-sent", false},
		{"unknown", "c", "accepted", false},
	}
	for _, tt := range tests {
		if err := Contact(cs, tt.account, ContactIs(tt.state)); (err == nil) != tt.ok {
			t.Errorf("%s: Contact(%s, %s) = %v", tt.name, tt.account, tt.state, err)
		}
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	cs := []apitype.Call{{ID: "1", State: "ringing"}, {ID: "2", State: "ended", Reason: "declined"}}
	if c, err := Call(cs, "1", CallIs("ringing")); err != nil || c.ID != "1" {
		t.Errorf("ringing call: %+v, %v", c, err)
	}
	if _, err := Call(cs, "1", CallIs("connected")); err == nil || errors.Is(err, ErrCallEnded) {
		t.Errorf("a ringing call awaited as connected: %v, want a plain error", err)
	}
	err := callErr(cs, "2", "connected")
	if !errors.Is(err, ErrCallEnded) {
		t.Errorf("an ended call awaited as connected: %v, want ErrCallEnded", err)
	}
	if For(context.Background(), time.Minute, func() error { return callErr(cs, "2", "connected") }) == nil {
		t.Error("For polled on after the call ended")
	}
	if _, err := Call(cs, "2", CallIs("ended")); err != nil {
		t.Errorf("an ended call awaited as ended: %v", err)
	}
	if _, err := Call(cs, "3", CallIs("ended")); err == nil {
		t.Error("an unlisted call was found")
	}
}

// callErr is Call returning only the error.
func callErr(cs []apitype.Call, id, state string) error {
	_, err := Call(cs, id, CallIs(state))
	return err
}
