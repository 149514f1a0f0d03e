package adversary

import (
	"testing"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// cachedRecords is the victim's account-record cache size.
func cachedRecords(t *testing.T, v *victim) int {
	t.Helper()
	s, err := v.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s.Cached["account_records"]
}

// TestNodeUpdateFromNonContacts: an account record pushed (`update`) by a
// stranger, or by an account whose request is only pending, is refused and
// not cached; one pushed by an accepted contact is taken (issue 14 finding
// 3: every update was taken and cached without bound).
func TestNodeUpdateFromNonContacts(t *testing.T) {
	t.Parallel()
	// A bootstrap, so that the victim can look the contact of the control
	// below up (it checks a sender's CRL before taking its update).
	boot := startBootstrap(t, "127.0.0.1")
	v := startVictim(t, boot)
	ctx := t.Context()
	update := func(a *attacker) error {
		_, rec, err := a.Account.Record([]*Device{a.Device}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a.send(ctx, v.info, v.account, "update", "", "", rec)
	}

	stranger := newAttacker(t, v.info, nil)
	for range 3 {
		if code := refusalCode(t, "stranger's update", update(stranger)); code != "unexpected" {
			t.Errorf("a stranger's update: refusal %q, want unexpected", code)
		}
	}
	asker := newAttacker(t, v.info, nil)
	if err := asker.send(ctx, v.info, v.account, "request", "asker", "", nil); err != nil {
		t.Fatalf("request: %v", err)
	}
	if code := refusalCode(t, "pending requester's update", update(asker)); code != "unexpected" {
		t.Errorf("an update from an account whose request is pending: refusal %q, want unexpected", code)
	}
	if n := cachedRecords(t, v); n != 0 {
		t.Errorf("%d account records cached after updates from non-contacts, want 0", n)
	}
	if s := contactState(t, v, stranger.Account.Cert.ID); s != "none" {
		t.Errorf("the stranger is %s after his updates, want none", s)
	}

	// The control: the same push from an accepted contact is taken, so
	// the cache count above can see a record arrive.
	if err := Connect(ctx, asker.h, boot.info); err != nil {
		t.Fatal(err)
	}
	ak, av, err := asker.Account.Record([]*Device{asker.Device}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := PutValue(ctx, asker.h, boot.info.ID, ak, av); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client().ContactOp(ctx, "accept", apitype.ContactRequest{AccountID: asker.Account.Cert.ID.String()}); err != nil {
		t.Fatal(err)
	}
	if err := update(asker); err != nil {
		t.Fatalf("an accepted contact's update: %v", err)
	}
	if n := cachedRecords(t, v); n != 1 {
		t.Errorf("%d account records cached after the contact's update, want 1", n)
	}
}
