package calls

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// The call timers run in a synctest bubble: time.Sleep moves the bubble's
// clock at once, so the 5 s confirm wait and the 60 s ring timeout cost no
// wall time. The node's TestCallUnverifiedWithoutConfirm covers the same
// confirm wait end to end over real sockets (and so in real time).

// TestConfirmWaitMarksUnverified: an answered incoming call with no SAS
// confirmation confirmWait after the answer is marked unverified, with an
// event; not a moment earlier, and not when the SAS came in time.
func TestConfirmWaitMarksUnverified(t *testing.T) {
	svc := newTestNode(t, "bob")
	synctest.Test(t, func(t *testing.T) {
		events, stop := svc.Events.Subscribe()
		defer stop()
		c := svc.newCall(callproto.CallID{0xc0}, false, svc.ID.AccountCert.ID, callproto.CallID{})
		go c.awaitConfirm()
		time.Sleep(confirmWait - time.Millisecond)
		synctest.Wait()
		if c.info().Unverified {
			t.Fatalf("unverified %v before the confirm wait ran out", confirmWait-time.Millisecond)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if !c.info().Unverified {
			t.Fatalf("not unverified after %v without a confirmation", confirmWait)
		}
		if !gotEvent(events, apitype.EventCallUnverified) {
			t.Fatal("no call.unverified event")
		}
		c.end("test", "")

		// A confirmation that came in time: no mark.
		c = svc.newCall(callproto.CallID{0xc1}, false, svc.ID.AccountCert.ID, callproto.CallID{})
		go c.awaitConfirm()
		time.Sleep(confirmWait / 2)
		c.mu.Lock()
		c.sas = "1234"
		c.mu.Unlock()
		time.Sleep(confirmWait)
		synctest.Wait()
		if c.info().Unverified {
			t.Fatal("unverified although the SAS came in time")
		}
		c.end("test", "")
	})
}

// TestRingTimeoutEndsUnansweredCall: an outgoing call that nobody answers
// ends "no answer" after ringTimeout; one that ends before does not wait.
func TestRingTimeoutEndsUnansweredCall(t *testing.T) {
	svc := newTestNode(t, "alice")
	synctest.Test(t, func(t *testing.T) {
		c := svc.newCall(callproto.CallID{0xd0}, true, svc.ID.AccountCert.ID, callproto.CallID{})
		go c.giveUpUnanswered()
		time.Sleep(ringTimeout - time.Millisecond)
		synctest.Wait()
		if st := c.info().State; st != string(StateCalling) {
			t.Fatalf("state %s before the ring timeout, want %s", st, StateCalling)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if ci := c.info(); ci.State != string(StateEnded) || ci.Reason != "no answer" {
			t.Fatalf("after %v: state %s (%s), want ended (no answer)", ringTimeout, ci.State, ci.Reason)
		}

		// Hung up while ringing: the timer goroutine returns at once.
		c = svc.newCall(callproto.CallID{0xd1}, true, svc.ID.AccountCert.ID, callproto.CallID{})
		start := time.Now()
		done := make(chan struct{})
		go func() { c.giveUpUnanswered(); close(done) }()
		c.end("cancelled", "")
		<-done
		if d := time.Since(start); d != 0 {
			t.Fatalf("the ring timer held an ended call for %v", d)
		}
	})
}

func gotEvent(ch <-chan apitype.Event, typ apitype.EventType) bool {
	for {
		select {
		case e := <-ch:
			if e.Type == typ {
				return true
			}
		default:
			return false
		}
	}
}
