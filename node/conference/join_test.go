package conference

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// signedBy signs m as n's device.
func signedBy(t *testing.T, n *Service, m confMsg) []byte {
	t.Helper()
	m.V, m.Time = 1, time.Now().UTC()
	if m.From.Device == "" {
		m.From = n.selfMember()
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	k := n.ID.DeviceKey.Ed25519()
	defer clear(k)
	data, err := pcrypto.SignEnvelope(k, confContext, payload)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestStrangerCannotJoin: knowing a conference's ID is not enough to join
// it (attacker review, HIGH: a stranger joined and heard everyone). A join
// is taken from a member already known, from an accepted contact, or with
// an invitation naming the joiner's account signed by a member known here.
func TestStrangerCannotJoin(t *testing.T) {
	me, friend, mallory, carol := newTestService(t, "me"), newTestService(t, "friend"), newTestService(t, "mallory"), newTestService(t, "carol")
	me.io = &recorder{}
	if err := me.Store.PutContact(store.Contact{AccountID: friend.ID.AccountCert.ID, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	info, err := me.StartConference(8, apitype.CallRequest{Audio: "none"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := calls.ParseCallID(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	join := func(n *Service, invitation []byte) error {
		return me.receiveConf(peer.ID(n.ID.DeviceCert.Device), signedBy(t, n, confMsg{Kind: confJoin, Conf: info.ID, Max: 8, Invitation: invitation}))
	}
	invite := func(from *Service, to pcrypto.AccountID) []byte {
		return signedBy(t, from, confMsg{Kind: confInvite, Conf: info.ID, Max: 8, To: to, Members: []confMember{from.selfMember()}})
	}
	members := func() int {
		cf := me.joined(id)
		cf.mu.Lock()
		defer cf.mu.Unlock()
		return len(cf.members)
	}

	// A stranger with the ID only, or with an invitation of his own making.
	for _, tc := range []struct {
		name       string
		invitation []byte
		want       string
	}{
		{"no invitation", nil, "not invited"},
		{"an invitation he signed himself", invite(mallory, mallory.ID.AccountCert.ID), "not a member here"},
		{"an invitation from a member, for another account", invite(friend, carol.ID.AccountCert.ID), "addressed to another account"},
	} {
		if err := join(mallory, tc.invitation); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want refused (%s)", tc.name, err, tc.want)
		}
	}
	if n := members(); n != 1 {
		t.Fatalf("%d members after the stranger's joins, want 1 (this device)", n)
	}
	// An accepted contact joins.
	if err := join(friend, nil); err != nil {
		t.Fatalf("an accepted contact's join: %v", err)
	}
	// Carol, a stranger here, joins with the invitation friend (a member
	// now) sent her.
	if err := join(carol, invite(friend, carol.ID.AccountCert.ID)); err != nil {
		t.Fatalf("carol's join with friend's invitation: %v", err)
	}
	if n := members(); n != 3 {
		t.Fatalf("%d members, want 3", n)
	}
}
