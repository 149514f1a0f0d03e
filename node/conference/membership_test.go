package conference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/node/service/servicetest"
)

// recorder stands in for the network side of membership changes.
type recorder struct {
	mu    sync.Mutex
	sent  []string // message kinds, in order
	dials int
}

func (r *recorder) introduce(_ context.Context, _ pcrypto.DeviceID, _ confMember, msg confMsg) error {
	return r.sendConf(context.Background(), "", msg)
}

func (r *recorder) sendConf(_ context.Context, _ pcrypto.DeviceID, msg confMsg) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, msg.Kind)
	return nil
}

func (r *recorder) dial(context.Context, *conference, pcrypto.DeviceID, confMember) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dials++
}

func newTestService(t testing.TB, name string) *Service {
	t.Helper()
	env := servicetest.NewEnv(t, name)
	pres, err := presence.New(env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := contacts.New(env, pres, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := calls.New(env, pres, cs, calls.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(env, pres, cs, cl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestMembershipWalk feeds every input to a member in every state through
// Service.move and checks the state it leaves, the refusal, the messages
// it sends and whether it calls, against the table — for a member whose
// device ID is above ours (we call it) and one below (it calls us).
func TestMembershipWalk(t *testing.T) {
	me := newTestService(t, "me")
	others := []*Service{newTestService(t, "o1"), newTestService(t, "o2")}
	for _, other := range others {
		d, m := other.ID.DeviceCert.Device, other.selfMember()
		weCall := places(me.ID.DeviceCert.Device, d)
		for _, s := range memberStates {
			for _, in := range memberInputs {
				t.Run(string(s)+"/"+strings.ReplaceAll(string(in), " ", "-"), func(t *testing.T) {
					rec := &recorder{}
					me.io = rec
					cf := newConference(callproto.CallID{1}, 8, pcrypto.AccountID{})
					cf.joined = true
					cf.members[me.ID.DeviceCert.Device] = me.selfMember()
					var current *calls.Call
					if s != memberUnknown {
						cf.members[d] = m
					}
					if s == memberInCall {
						current = testCall(t, me, d)
						cf.calls[d] = current
					}
					var c *calls.Call
					switch in {
					case inCallUp:
						c = testCall(t, me, d)
					case inCallEnded:
						c = current
					}
					err := me.move(context.Background(), cf, d, m, in, c)
					want := stepMember(s, in)
					if (want.act&actRefuse != 0) != (err != nil) {
						t.Fatalf("err = %v, want refused = %v", err, want.act&actRefuse != 0)
					}
					got := memberUnknown
					if _, ok := cf.members[d]; ok {
						got = memberKnown
						if cf.calls[d] != nil {
							got = memberInCall
						}
					}
					if err == nil && got != want.next {
						t.Fatalf("state %s, want %s", got, want.next)
					}
					var wantSent []string
					if want.act&actSendJoin != 0 {
						wantSent = append(wantSent, confJoin)
					}
					if want.act&actSendMembers != 0 {
						wantSent = append(wantSent, confMembers)
					}
					if strings.Join(rec.sent, ",") != strings.Join(wantSent, ",") {
						t.Fatalf("sent %v, want %v", rec.sent, wantSent)
					}
					wantDial := want.act&actCall != 0 && weCall && s != memberInCall
					if wantDial {
						// The call is placed on a goroutine of its own.
						test.WaitFor(t, 2*time.Second, func() error {
							rec.mu.Lock()
							defer rec.mu.Unlock()
							if rec.dials != 1 {
								return fmt.Errorf("%d dials, want 1", rec.dials)
							}
							return nil
						})
					} else if rec.dials != 0 {
						t.Fatalf("%d dials, want none", rec.dials)
					}
				})
			}
		}
	}
}

// testCall is a real conference call object to device d (its legs fail
// in the background: nothing listens).
func testCall(t *testing.T, svc *Service, d pcrypto.DeviceID) *calls.Call {
	t.Helper()
	c, err := svc.calls.StartMemberCall(svc.ID.AccountCert.ID, d, apitype.CallRequest{}, callproto.CallID{1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End("test over") })
	return c
}

// TestMembershipTableDocumented checks that docs/protocol.md shows the
// table the code runs.
func TestMembershipTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := membershipMarkdown(); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/protocol.md does not hold the membership table; paste this:\n%s", want)
	}
}

var _ = service.ErrInvalidInput

// failing refuses every introduction, as a device outside the conference
// does.
type failing struct{ recorder }

func (f *failing) introduce(ctx context.Context, d pcrypto.DeviceID, m confMember, msg confMsg) error {
	_ = f.recorder.introduce(ctx, d, m, msg)
	return errors.New("not in that conference")
}

// TestRosterOnlyAnswersOurJoin: a member cannot make this device contact
// devices at will (found by the adversarial review of the new members
// message). A roster is taken only in answer to our own join, once; a
// device that refused our join is not introduced to again, however often
// rosters name it.
func TestRosterOnlyAnswersOurJoin(t *testing.T) {
	me := newTestService(t, "me")
	x, victim := newTestService(t, "x"), newTestService(t, "victim")
	cf := newConference(callproto.CallID{2}, 8, pcrypto.AccountID{})
	cf.joined = true
	cf.members[me.ID.DeviceCert.Device] = me.selfMember()
	me.confs = map[callproto.CallID]*conference{cf.id: cf}
	xd := x.ID.DeviceCert.Device
	roster := confMsg{Kind: confMembers, Conf: calls.CallIDString(cf.id), Max: 8, Members: []confMember{victim.selfMember()}}

	rec := &failing{}
	me.io = rec
	cf.members[xd] = x.selfMember() // x is a member we have not introduced ourselves to
	if err := me.onMembers(cf.id, xd, roster); err == nil {
		t.Fatal("an unsolicited roster was taken")
	}
	// We introduce ourselves to x (move: listed → join sent); its roster
	// answers that, once.
	delete(cf.members, xd)
	if err := me.move(context.Background(), cf, xd, x.selfMember(), inListed, nil); err != nil {
		t.Fatal(err)
	}
	cf.mu.Lock()
	cf.members[xd], cf.refused = x.selfMember(), map[pcrypto.DeviceID]bool{} // as if x had taken it
	cf.awaiting[xd] = true
	cf.mu.Unlock()
	if err := me.onMembers(cf.id, xd, roster); err != nil {
		t.Fatalf("the roster answering our join was refused: %v", err)
	}
	if err := me.onMembers(cf.id, xd, roster); err == nil {
		t.Fatal("a second roster for one join was taken")
	}
	// The victim refuses our join; later rosters naming it change nothing.
	test.WaitFor(t, 2*time.Second, func() error {
		cf.mu.Lock()
		defer cf.mu.Unlock()
		if !cf.refused[victim.ID.DeviceCert.Device] {
			return errors.New("the victim's refusal is not remembered")
		}
		return nil
	})
	before := len(rec.sent)
	for range 3 {
		cf.mu.Lock()
		cf.awaiting[xd] = true
		cf.mu.Unlock()
		if err := me.onMembers(cf.id, xd, roster); err != nil {
			t.Fatal(err)
		}
		me.listed(cf, map[pcrypto.DeviceID]confMember{victim.ID.DeviceCert.Device: victim.selfMember()})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sent) != before {
		t.Fatalf("introduced %d more times to a device that refused", len(rec.sent)-before)
	}
}

// TestPendingInvitationsBounded: a contact who sends invitation after
// invitation, each with a new conference ID, makes this device hold at
// most maxPendingInvitations of them, the newest (found by the adversarial
// review: 2,000 invitations were all held).
func TestPendingInvitationsBounded(t *testing.T) {
	me, friend := newTestService(t, "me"), newTestService(t, "friend")
	acct := friend.ID.AccountCert.ID
	if err := me.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	var ids []callproto.CallID
	for i := range maxPendingInvitations + 4 {
		id := callproto.CallID{0xee, byte(i)}
		ids = append(ids, id)
		m := confMsg{Kind: confInvite, Conf: calls.CallIDString(id), Max: 8, From: friend.selfMember(), Members: []confMember{friend.selfMember()}, To: me.ID.AccountCert.ID}
		if err := me.onInvite(id, m, []byte("signed invite")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(me.Conferences()); n != maxPendingInvitations {
		t.Fatalf("%d invitations held, want %d", n, maxPendingInvitations)
	}
	if _, err := me.conference(calls.CallIDString(ids[0])); err == nil {
		t.Error("the oldest invitation is still held")
	}
	if _, err := me.conference(calls.CallIDString(ids[len(ids)-1])); err != nil {
		t.Errorf("the newest invitation was dropped: %v", err)
	}
}
