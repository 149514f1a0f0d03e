package contacts

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
)

// TestTransitionTableComplete checks that every (state, input) pair has a
// cell and that every Move names a state.
func TestTransitionTableComplete(t *testing.T) {
	for _, s := range States {
		for _, in := range Inputs {
			tr, ok := table[s][in]
			if !ok {
				t.Errorf("no transition for %s × %s", s, in)
				continue
			}
			if tr.Outcome == Move && !slicesContains(States, tr.Next) {
				t.Errorf("%s × %s moves to unknown state %q", s, in, tr.Next)
			}
			if tr.Outcome == Refuse && tr.Why == "" {
				t.Errorf("%s × %s refuses without a reason", s, in)
			}
		}
	}
}

// TestTransitionTableDocumented checks that docs/protocol.md shows the table
// the code runs.
func TestTransitionTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := TableMarkdown(); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/protocol.md does not hold the contact state table; paste this:\n%s", want)
	}
}

// TestTransitionSafety states, independently of the table, what no message
// from the other account may ever do.
func TestTransitionSafety(t *testing.T) {
	for _, s := range States {
		for _, in := range Inputs {
			tr := Step(s, in)
			if in.fromAPI() || tr.Outcome != Move {
				continue
			}
			if tr.Next == StateAccepted && s != StateAccepted && s != StateRequestSent {
				t.Errorf("a %s message makes a contact in state %s accepted: only our own request may be answered", in, s)
			}
			if s == StateBlocked {
				t.Errorf("a %s message changes a blocked contact", in)
			}
		}
	}
	if Step(StateRequestReceived, MsgAccept).Outcome != Refuse {
		t.Error("a stranger who sent a request can accept it himself")
	}
	for _, s := range States {
		if s != StateAccepted && Step(s, MsgUpdate).Outcome == Move {
			t.Errorf("an update message is taken from a %s account", s)
		}
	}
}

// TestTransitionsWalk drives every (state, input) pair through the real code
// path — the API method, or a signed message from the other account's
// device received as from the network — and checks the stored contact, the
// queued message, the event and the refusal against the table.
func TestTransitionsWalk(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	acct := alice.ID.AccountCert.ID
	alicePeer := peer.ID(alice.ID.DeviceCert.Device)
	events, stop := bob.Events.Subscribe()
	defer stop()
	seq := uint64(time.Now().UnixMilli())
	// Bob holds a record of alice's account (as after adding her), so her
	// messages' revocation check needs no lookup.
	rec0, err := records.NewAccount(alice.ID.AccountKey(), alice.ID.AccountCert, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, nil, seq, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := records.ParseAccount(records.AccountKey(alice.ID.AccountCert.ID), rec0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bob.pres.UpdateAccount(alice.ID.AccountCert.ID, parsed, time.Now())
	kinds := map[Input]string{MsgRequest: kindRequest, MsgAccept: kindAccept, MsgDecline: kindDecline, MsgRemove: kindRemove, MsgUpdate: kindUpdate}

	for _, s := range States {
		for _, in := range Inputs {
			t.Run(string(s)+"/"+strings.ReplaceAll(string(in), " ", "-"), func(t *testing.T) {
				setState(t, bob.Store, acct, s)
				for len(events) > 0 {
					<-events
				}
				seq++ // each case pushes a newer record, to tell whether it was taken
				now := time.Now()
				rec, err := records.NewAccount(alice.ID.AccountKey(), alice.ID.AccountCert, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, nil, seq, time.Hour, now)
				if err != nil {
					t.Fatal(err)
				}
				switch in {
				case APIAdd:
					_, err = bob.AddContact(acct, "", "hi")
				case APIAccept:
					_, err = bob.AcceptContact(acct)
				case APIDecline:
					err = bob.DeclineContact(acct)
				case APIBlock:
					_, err = bob.BlockContact(acct)
				case APIRemove:
					err = bob.RemoveContact(acct)
				default:
					msg := signAs(t, alice, nil, func(m *contactMsg) {
						m.To, m.Kind = bob.ID.AccountCert.ID, kinds[in]
						if in == MsgUpdate {
							m.Record = rec
						}
					})
					err = bob.receiveContact(alicePeer, msg)
				}
				want := Step(s, in)
				got := stateOf(t, bob.Store, acct)
				switch want.Outcome {
				case Refuse:
					var r *service.Refused
					switch {
					case err == nil:
						t.Fatalf("accepted; want refused (%s)", want.Why)
					case in.fromAPI() && !errors.Is(err, service.ErrConflict) && !errors.Is(err, ErrNoContact):
						t.Fatalf("err = %v, want ErrConflict or ErrNoContact", err)
					case !in.fromAPI() && (!errors.As(err, &r) || r.Code != "unexpected"):
						t.Fatalf("err = %v, want a refusal with code unexpected", err)
					}
					if got != s {
						t.Fatalf("refused, yet the state moved %s → %s", s, got)
					}
				case Ignore:
					if err != nil {
						t.Fatalf("err = %v, want the message ignored", err)
					}
					if got != s {
						t.Fatalf("ignored, yet the state moved %s → %s", s, got)
					}
				case Move:
					if err != nil {
						t.Fatalf("err = %v, want a move to %s", err, want.Next)
					}
					if got != want.Next {
						t.Fatalf("state %s, want %s", got, want.Next)
					}
				}
				if kind := queued(t, bob.Store, acct); want.Outcome == Move && want.Send != kind {
					t.Fatalf("queued %q, want %q", kind, want.Send)
				} else if want.Outcome != Move && kind != "" {
					t.Fatalf("queued %q on a %v", kind, want.Outcome)
				}
				var ev apitype.EventType
				select {
				case e := <-events:
					ev = e.Type
				default:
				}
				if wantEv := map[bool]apitype.EventType{true: want.Event}[want.Outcome == Move]; ev != wantEv {
					t.Fatalf("event %q, want %q", ev, wantEv)
				}
				c := bob.pres.CachedAccount(alice.ID.AccountCert.ID, time.Now(), time.Hour)
				cached := c != nil && c.Seq == seq
				if in == MsgUpdate && cached != (want.Outcome == Move) {
					t.Fatalf("record cached = %v after an update in state %s", cached, s)
				}
			})
		}
	}
}

// TestStrangerCannotAcceptHimself is the attack of issue 14 finding 1: a
// request and then an accept from a stranger leave a pending request, not
// a contact.
func TestStrangerCannotAcceptHimself(t *testing.T) {
	bob := newTestNode(t, "bob")
	mallory := newTestNode(t, "mallory")
	from := peer.ID(mallory.ID.DeviceCert.Device)
	to := bob.ID.AccountCert.ID
	for _, kind := range []string{kindRequest, kindAccept} {
		err := bob.receiveContact(from, signAs(t, mallory, nil, func(m *contactMsg) { m.To, m.Kind = to, kind }))
		if kind == kindAccept && err == nil {
			t.Error("the stranger's accept was taken")
		}
	}
	if got := stateOf(t, bob.Store, mallory.ID.AccountCert.ID); got != StateRequestReceived {
		t.Fatalf("stranger is %s after request+accept, want %s", got, StateRequestReceived)
	}
}

func setState(t *testing.T, st *store.Store, acct pcrypto.AccountID, s State) {
	t.Helper()
	ch := store.ContactChange{AccountID: acct, ClearOutbox: true}
	if s != StateNone {
		ch.Contact = &store.Contact{AccountID: acct, State: s}
	}
	if err := st.ApplyContactChange(ch); err != nil {
		t.Fatal(err)
	}
}

func stateOf(t *testing.T, st *store.Store, acct pcrypto.AccountID) State {
	t.Helper()
	c, err := st.Contact(acct)
	if errors.Is(err, store.ErrNotFound) {
		return StateNone
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}

func queued(t *testing.T, st *store.Store, acct pcrypto.AccountID) string {
	t.Helper()
	items, err := st.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.To == acct {
			return it.Kind
		}
	}
	return ""
}

func slicesContains(ss []State, s State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var _ = apitype.EventContactRequest

// TestRevokedDeviceRefusedWhateverTheCacheAge is the attack of the
// adversarial review: a revoked device (a stolen phone) sends "remove" as
// its account once the recipient's cached record of that account is more
// than the cache TTL (30 s) old. The CRL of the newest record held counts
// whatever its age; the message is refused.
func TestRevokedDeviceRefusedWhateverTheCacheAge(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	acct := alice.ID.AccountCert.ID
	phoneKey, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	phone, err := pcrypto.IssueDeviceCert(alice.ID.AccountKey(), alice.ID.AccountCert, phoneKey.Public(), "phone", pcrypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crl, err := pcrypto.CreateCRL(alice.ID.AccountKey(), alice.ID.AccountCert, nil, []*big.Int{phone.Serial()}, now)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := records.NewAccount(alice.ID.AccountKey(), alice.ID.AccountCert, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, crl, uint64(now.UnixMilli()), time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.ParseAccount(records.AccountKey(acct), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	setState(t, bob.Store, acct, StateAccepted)
	bob.pres.UpdateAccount(acct, rec, now.Add(-40*time.Second)) // fetched 40 s ago
	msg := signAs(t, alice, phoneKey, func(m *contactMsg) {
		m.To, m.Kind, m.DeviceCert = bob.ID.AccountCert.ID, kindRemove, phone.Raw()
	})
	err = bob.receiveContact(peer.ID(phone.Device), msg)
	if err == nil || !strings.Contains(err.Error(), "revocation") {
		t.Fatalf("remove from the revoked phone: %v, want refused as revoked", err)
	}

	// After a restart (an empty record cache, as strangers' records can
	// also evict it), the pinned revocations still refuse the phone, even
	// for a request, which costs no lookup (attacker review: the phone's
	// request and invitations were taken once the record was gone).
	pres, err := presence.New(bob.Env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := New(bob.Env, pres, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{kindRemove, kindRequest} {
		msg := signAs(t, alice, phoneKey, func(m *contactMsg) {
			m.To, m.Kind, m.DeviceCert = bob.ID.AccountCert.ID, kind, phone.Raw()
		})
		err = restarted.receiveContact(peer.ID(phone.Device), msg)
		if err == nil || !strings.Contains(err.Error(), "pinned revocation list") {
			t.Fatalf("%s from the revoked phone after a restart: %v, want refused as revoked", kind, err)
		}
	}
	if got := stateOf(t, bob.Store, acct); got != StateAccepted {
		t.Fatalf("alice is %s at bob, want accepted", got)
	}
}

// TestStrangerRequestsBounded: requests from strangers are bounded (issue
// 14 finding 4, and the adversarial review stored 2000): past the bound
// the oldest pending request is dropped and counted, and accepted
// contacts are never touched.
func TestStrangerRequestsBounded(t *testing.T) {
	env := servicetest.NewEnv(t, "bob")
	pres, err := presence.New(env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := New(env, pres, Options{MaxPendingRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	friend := newTestNode(t, "friend")
	setState(t, bob.Store, friend.ID.AccountCert.ID, StateAccepted)
	var strangers []*Service
	for i := range 5 {
		s := newTestNode(t, fmt.Sprintf("stranger%d", i))
		strangers = append(strangers, s)
		msg := signAs(t, s, nil, func(m *contactMsg) { m.To, m.Kind = bob.ID.AccountCert.ID, kindRequest })
		if err := bob.receiveContact(peer.ID(s.ID.DeviceCert.Device), msg); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range strangers {
		want := StateRequestReceived
		if i < 2 {
			want = StateNone // the two oldest made room
		}
		if got := stateOf(t, bob.Store, s.ID.AccountCert.ID); got != want {
			t.Errorf("stranger %d is %s, want %s", i, got, want)
		}
	}
	if got := stateOf(t, bob.Store, friend.ID.AccountCert.ID); got != StateAccepted {
		t.Errorf("the accepted contact is %s", got)
	}
	if d := bob.DroppedRequests(); d != 2 {
		t.Errorf("DroppedRequests = %d, want 2", d)
	}
}

// TestStaleQueuedMessageDropped: a message still queued to an account
// (its acknowledgement lost when the daemon was killed after the other
// side had taken it) is dropped when that account's next step arrives, so
// a late retry cannot undo the step: bob removed alice, alice (removed)
// asks again; bob's "remove", delivered after her new request, would turn
// her request into "declined". Likewise a queued decline. The crash test
// (test/crash) found this.
func TestStaleQueuedMessageDropped(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	acct := alice.ID.AccountCert.ID
	alicePeer := peer.ID(alice.ID.DeviceCert.Device)
	request := func() error {
		return bob.receiveContact(alicePeer, signAs(t, alice, nil, func(m *contactMsg) {
			m.To, m.Kind = bob.ID.AccountCert.ID, kindRequest
		}))
	}
	steps := []struct {
		from State
		do   func() error
		sent string
	}{
		{StateAccepted, func() error { return bob.RemoveContact(acct) }, kindRemove},
		{StateRequestReceived, func() error { return bob.DeclineContact(acct) }, kindDecline},
	}
	for _, st := range steps {
		setState(t, bob.Store, acct, st.from)
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		if q := queued(t, bob.Store, acct); q != st.sent {
			t.Fatalf("queued %q, want %q", q, st.sent)
		}
		if err := request(); err != nil {
			t.Fatal(err)
		}
		if got := stateOf(t, bob.Store, acct); got != StateRequestReceived {
			t.Fatalf("after alice's new request bob has her as %s", got)
		}
		if q := queued(t, bob.Store, acct); q != "" {
			t.Fatalf("after alice's new request, bob still holds a %q for her: a retry would undo her request", q)
		}
	}
}

// TestStrangerCannotDriveLookups: a stranger withdrawing his own pending
// request (remove, decline) costs no DHT lookup, however often he asks
// and withdraws (attacker review: 400 removes made 359 lookups).
func TestStrangerCannotDriveLookups(t *testing.T) {
	bob, mallory := newTestNode(t, "bob"), newTestNode(t, "mallory")
	before := bob.pres.Lookups()
	for range 5 {
		for _, kind := range []string{kindRequest, kindRemove} {
			msg := signAs(t, mallory, nil, func(m *contactMsg) { m.To, m.Kind = bob.ID.AccountCert.ID, kind })
			if err := bob.receiveContact(peer.ID(mallory.ID.DeviceCert.Device), msg); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
		}
	}
	if n := bob.pres.Lookups() - before; n != 0 {
		t.Fatalf("a stranger's requests and withdrawals cost %d DHT lookups", n)
	}
	if got := stateOf(t, bob.Store, mallory.ID.AccountCert.ID); got != StateNone {
		t.Fatalf("after the last withdrawal mallory is %s, want none", got)
	}
}
