package natlab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// TestPeerKilledMidCall (issue 16 item 11) in the NAT lab: two cone-NATed
// sites in a call; the callee's daemon is killed with SIGKILL. The caller
// must end the call within 5 s saying why, and a call placed as soon as the
// callee is back (published and holding a relay reservation again) must
// connect on the first try.
func TestPeerKilledMidCall(t *testing.T) {
	t.Parallel()
	s := startSession(t, Cast{Callers: []Kind{Cone}, Callees: []Kind{Symmetric}}, 0, nil)
	ctx := t.Context()
	from, to := s.Callers[Cone], s.Callees[Symmetric]
	var c apitype.Call
	if err := from.CLIJSON(ctx, &c, "call", to.AccountID, "--wait", callWait.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := from.WaitCall(ctx, c.ID, func(c apitype.Call) bool { return c.ToneHz != 0 }); err != nil {
		t.Fatal(err)
	}
	t.Logf("call connected on %+v", c.Path)

	to.Kill()
	<-to.Proc.Done()
	killed := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ended, err := from.WaitCall(wctx, c.ID, wait.CallIs("ended"))
	took := time.Since(killed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the caller ended the call %v after the callee's kill -9: %q", took.Round(time.Millisecond), ended.Reason)
	if took > 5*time.Second {
		t.Errorf("the caller ended the call %v after the kill, want at most 5s", took.Round(time.Millisecond))
	}
	if !strings.Contains(ended.Reason, "stopped responding") && !strings.Contains(ended.Reason, "went away") {
		t.Errorf("end reason %q does not say the other side is gone", ended.Reason)
	}

	if err := to.Start(ctx, s.Bootstrap.Addrs); err != nil {
		t.Fatal(err)
	}
	if err := to.waitRelayAddr(ctx); err != nil {
		t.Fatal(err)
	}
	// The relay slot is taken the moment the bootstrap is connected; the
	// new presence record follows. (The bootstrap's relay also holds the
	// killed process's connection until its probe closes it, ≤ 1.5 s.)
	if err := to.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := from.CLIJSON(ctx, &c, "call", to.AccountID, "--wait", "10s"); err != nil {
		t.Fatalf("call after the callee's restart (after %v): %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("call after the callee's restart connected in %v on %+v", time.Since(start).Round(time.Millisecond), c.Path)
	_, _ = from.CLI(ctx, "hangup", c.ID)
}
