package calltransport

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
)

// TestGatherAheadHoldsCandidates: a leg gathered before anyone listens for
// its candidates (a spare leg made ahead of a call) keeps them, hands them
// over in order when OnCandidate is set, and then connects to a peer like
// a leg gathered at Start.
func TestGatherAheadHoldsCandidates(t *testing.T) {
	logger, _ := newTestLogger(t)
	spare, err := NewLeg(Config{IncludeLoopback: true, IPFilter: loopbackV4, Logger: logger.With("side", "spare")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spare.Close() })
	if err := spare.Gather(); err != nil {
		t.Fatal(err)
	}
	if err := spare.Gather(); err != nil {
		t.Fatalf("a second Gather: %v", err)
	}
	held := func() []string {
		spare.candMu.Lock()
		defer spare.candMu.Unlock()
		return slices.Clone(spare.heldCands)
	}
	test.WaitFor(t, 5*time.Second, func() error {
		if h := held(); len(h) == 0 || h[len(h)-1] != "" {
			return errors.New("gathering not done yet")
		}
		return nil
	})
	want := held()
	if len(want) < 2 {
		t.Fatalf("held candidates %q, want at least one and the end marker", want)
	}

	caller, err := NewLeg(Config{Controlling: true, IncludeLoopback: true, IPFilter: loopbackV4, Logger: logger.With("side", "caller")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caller.Close() })
	var got []string
	spare.OnCandidate(func(c string) {
		got = append(got, c)
		if err := caller.AddRemoteCandidate(c); err != nil {
			t.Errorf("AddRemoteCandidate: %v", err)
		}
	})
	if !slices.Equal(got, want) {
		t.Fatalf("OnCandidate got %q, want the held %q in order", got, want)
	}
	if h := held(); len(h) != 0 {
		t.Fatalf("candidates still held after OnCandidate: %q", h)
	}
	caller.OnCandidate(func(c string) {
		if err := spare.AddRemoteCandidate(c); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("AddRemoteCandidate: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cu, cp := caller.LocalCredentials()
	su, sp := spare.LocalCredentials()
	if err := spare.Start(ctx, cu, cp); err != nil {
		t.Fatal(err)
	}
	if err := caller.Start(ctx, su, sp); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Leg{spare, caller} {
		if err := l.WaitConnected(ctx); err != nil {
			t.Fatalf("WaitConnected: %v", err)
		}
	}
}
