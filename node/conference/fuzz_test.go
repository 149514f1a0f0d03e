package conference

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/store"
)

// FuzzReceiveConf feeds arbitrary bytes to the conference message decoder
// and verifier (the members' account and device IDs are decoded from their
// text forms there): it must never panic, and no invitation is held that
// does not come from the one contact.
func FuzzReceiveConf(f *testing.F) {
	me, friend := newTestService(f, "me"), newTestService(f, "friend")
	acct := friend.ID.AccountCert.ID
	if err := me.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted}); err != nil {
		f.Fatal(err)
	}
	sign := func(payload []byte) []byte {
		k := friend.ID.DeviceKey.Ed25519()
		defer clear(k)
		data, err := pcrypto.SignEnvelope(k, confContext, payload)
		if err != nil {
			f.Fatal(err)
		}
		return data
	}
	m := confMsg{V: 1, Kind: confInvite, Conf: calls.CallIDString(callproto.CallID{0xf0}), Max: 8,
		From: friend.selfMember(), Members: []confMember{friend.selfMember()}, Time: time.Now().UTC(), To: me.ID.AccountCert.ID}
	good, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(good))
	// The same with IDs that are not IDs, or in another spelling.
	text := string(good)
	f.Add(sign([]byte(strings.Replace(text, acct.String(), "parley1nope", 1))))
	f.Add(sign([]byte(strings.Replace(text, acct.String(), strings.ToUpper(acct.String()), 1))))
	f.Add(sign([]byte(strings.Replace(text, friend.ID.DeviceCert.Device.String(), "12D3KooWnope", 1))))
	f.Add([]byte("not an envelope"))
	from := peer.ID(friend.ID.DeviceCert.Device)
	if err := me.receiveConf(from, sign(good)); err != nil || len(me.Conferences()) != 1 {
		f.Fatalf("the good seed: %v, %d conferences held", err, len(me.Conferences()))
	}
	if err := me.receiveConf(from, sign([]byte(strings.Replace(text, acct.String(), "parley1nope", 1)))); err == nil || !strings.Contains(err.Error(), "malformed payload") {
		f.Fatalf("a member account ID that is not one: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = me.receiveConf(from, data)
		for _, c := range me.Conferences() {
			if c.Inviter != acct.String() {
				t.Fatalf("conference %s held from %q", c.ID, c.Inviter)
			}
		}
	})
}
