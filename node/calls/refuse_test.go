package calls

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync/atomic"

	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/node/service/servicetest"

	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/store"
)

// offerFrom builds a signed offer from n to account to, edited by edit and
// signed by key (n's device key when nil).
func offerFrom(t *testing.T, n *Service, to pcrypto.AccountID, key *pcrypto.DeviceKey, edit func(*callproto.Offer)) []byte {
	t.Helper()
	ck, err := callproto.NewCallerKeys()
	if err != nil {
		t.Fatal(err)
	}
	o := &callproto.Offer{
		Time: time.Now(), From: n.ID.AccountCert.ID, To: to,
		AccountCert: n.ID.AccountCert.Raw(), DeviceCert: n.ID.DeviceCert.Raw(),
		ICEUfrag: "ufragufragufrag1", ICEPwd: "pwdpwdpwdpwdpwdpwdpwdpwd",
		Media: []callproto.MediaDesc{{Kind: "audio", Codec: "PCMU", ClockRate: 8000, Channels: 1, SSRC: 1}},
	}
	o.CallID[0] = byte(time.Now().UnixNano())
	o.CallID[1] = byte(time.Now().UnixNano() >> 8)
	ck.FillOffer(o)
	if edit != nil {
		edit(o)
	}
	if key == nil {
		key = n.ID.DeviceKey
	}
	b, err := callproto.SignOffer(key, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishAccountForTest puts n's account record (with the given devices
// and CRL) into m's record cache, as if m had resolved it.
func cacheAccount(t *testing.T, m, n *Service, devices []*pcrypto.DeviceCert, crl *pcrypto.CRL) {
	t.Helper()
	now := time.Now()
	seq := max(uint64(now.UnixMilli()), lastSeq.Add(1))
	lastSeq.Store(seq)
	raw, err := records.NewAccount(n.ID.AccountKey(), n.ID.AccountCert, devices, crl, seq, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.ParseAccount(records.AccountKey(n.ID.AccountCert.ID), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.pres.UpdateAccount(n.ID.AccountCert.ID, rec, now); err != nil {
		t.Fatal(err)
	}
}

// lastSeq keeps the records cacheAccount makes in order.
var lastSeq atomic.Uint64

// TestCallOfferRefused checks each reason a callee refuses an offer, and
// that each maps to the error code the caller is told.
func TestCallOfferRefused(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	bobID := bob.ID.AccountCert.ID
	alicePeer := peer.ID(alice.ID.DeviceCert.Device)
	if err := bob.Store.PutContact(store.Contact{AccountID: alice.ID.AccountCert.ID, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	cacheAccount(t, bob, alice, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, nil)

	// A second device of alice's account that the account never published.
	hiddenKey, _ := pcrypto.NewDeviceKey(nil)
	hiddenCert, err := pcrypto.IssueDeviceCert(alice.ID.AccountKey(), alice.ID.AccountCert, hiddenKey.Public(), "hidden", pcrypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := offerFrom(t, alice, bobID, nil, nil)
	forged := append([]byte(nil), good...)
	forged[len(forged)-1] ^= 1 // the last byte is the signature's

	tests := []struct {
		name string
		from peer.ID
		data []byte
		want error
		code callproto.Code
	}{
		{"forged signature", alicePeer, forged, callproto.ErrBadSignature, 0},
		{"stale", alicePeer, offerFrom(t, alice, bobID, nil, func(o *callproto.Offer) { o.Time = time.Now().Add(-time.Minute) }), callproto.ErrStale, callproto.CodeStale},
		{"to another account", alicePeer, offerFrom(t, alice, alice.ID.AccountCert.ID, nil, nil), callproto.ErrWrongRecipient, callproto.CodeWrongRecipient},
		{"relayed by another peer", peer.ID(bob.ID.DeviceCert.Device), good, callproto.ErrWrongSigner, 0},
		{"device not in the account's set", peer.ID(hiddenCert.Device), offerFrom(t, alice, bobID, hiddenKey, func(o *callproto.Offer) { o.DeviceCert = hiddenCert.Raw() }), callproto.ErrUntrustedDevice, callproto.CodeUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := bob.checkOffer(tt.from, tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.code != 0 && callproto.CodeOf(err) != tt.code {
				t.Fatalf("code = %v, want %v", callproto.CodeOf(err), tt.code)
			}
		})
	}

	// The good offer passes once; the same offer again is a replay.
	if _, _, err := bob.checkOffer(alicePeer, good); err != nil {
		t.Fatalf("good offer: %v", err)
	}
	if _, _, err := bob.checkOffer(alicePeer, good); !errors.Is(err, callproto.ErrReplay) || callproto.CodeOf(err) != callproto.CodeReplay {
		t.Fatalf("replayed offer: %v", err)
	}

	// Not a contact (removed), then blocked.
	if err := bob.Store.DeleteContact(alice.ID.AccountCert.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.checkOffer(alicePeer, offerFrom(t, alice, bobID, nil, nil)); !errors.Is(err, callproto.ErrNotContact) || callproto.CodeOf(err) != callproto.CodeNotContact {
		t.Fatalf("non-contact: %v", err)
	}
	if err := bob.Store.SetSetting(string(service.SettingAllowNonContacts), "true"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.checkOffer(alicePeer, offerFrom(t, alice, bobID, nil, nil)); err != nil {
		t.Fatalf("non-contact allowed by setting: %v", err)
	}
	if err := bob.Store.PutContact(store.Contact{AccountID: alice.ID.AccountCert.ID, State: store.Blocked}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.checkOffer(alicePeer, offerFrom(t, alice, bobID, nil, nil)); !errors.Is(err, callproto.ErrNotContact) {
		t.Fatalf("blocked: %v", err)
	}

	// Revoked: the account publishes a CRL naming alice's device (last:
	// a revocation is for good, bob now refuses any record without it).
	if err := bob.Store.PutContact(store.Contact{AccountID: alice.ID.AccountCert.ID, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	crl, err := pcrypto.CreateCRL(alice.ID.AccountKey(), alice.ID.AccountCert, nil, []*big.Int{alice.ID.DeviceCert.Serial()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cacheAccount(t, bob, alice, nil, crl)
	if _, _, err := bob.checkOffer(alicePeer, offerFrom(t, alice, bobID, nil, nil)); !errors.Is(err, pcrypto.ErrRevoked) {
		t.Fatalf("revoked device: %v", err)
	}
}

// TestStrangerOfferCostsNothing: an offer from a stranger is refused
// before it costs a DHT lookup or a replay-cache entry (issue 14 finding
// 9: both came before the contact check).
func TestStrangerOfferCostsNothing(t *testing.T) {
	bob, mallory := newTestNode(t, "bob"), newTestNode(t, "mallory")
	lookups := bob.pres.Lookups()
	for range 3 {
		_, _, err := bob.checkOffer(peer.ID(mallory.ID.DeviceCert.Device), offerFrom(t, mallory, bob.ID.AccountCert.ID, nil, nil))
		if !errors.Is(err, callproto.ErrNotContact) {
			t.Fatalf("stranger's offer: %v, want not a contact", err)
		}
	}
	if n := bob.pres.Lookups() - lookups; n != 0 {
		t.Errorf("the stranger's offers cost %d DHT lookups", n)
	}
	if n := bob.replay.Len(); n != 0 {
		t.Errorf("the stranger's offers hold %d replay-cache entries", n)
	}
}

// TestPinnedRevocationWithoutRecord: when the caller's account record
// cannot be fetched, the revocations pinned for the account still apply
// (issue 14 finding 8: the chain alone was trusted, without any CRL, and
// the record cache is empty after a restart).
func TestPinnedRevocationWithoutRecord(t *testing.T) {
	bob, alice := newTestNode(t, "bob"), newTestNode(t, "alice")
	if err := bob.Store.PutContact(store.Contact{AccountID: alice.ID.AccountCert.ID, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	crl, err := pcrypto.CreateCRL(alice.ID.AccountKey(), alice.ID.AccountCert, nil, []*big.Int{alice.ID.DeviceCert.Serial()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cacheAccount(t, bob, alice, nil, crl)
	// A restart: same store, a new presence service with an empty cache
	// and a DHT that finds nothing.
	pres, err := presence.New(bob.Env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := New(bob.Env, pres, bob.contacts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = restarted.checkOffer(peer.ID(alice.ID.DeviceCert.Device), offerFrom(t, alice, bob.ID.AccountCert.ID, nil, nil))
	if !errors.Is(err, pcrypto.ErrRevoked) {
		t.Fatalf("offer from a device revoked before the restart: %v, want revoked", err)
	}
}

// FuzzCallFrame feeds arbitrary bytes to the signalling frame reader and
// the offer checks: never a panic, never an oversized allocation.
func FuzzCallFrame(f *testing.F) {
	bob := newTestNode(f, "bob")
	f.Add([]byte{0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readFrame(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if len(b) > callproto.MaxMessage {
			t.Fatalf("frame of %d bytes accepted", len(b))
		}
		_, _, _ = bob.checkOffer(peer.ID(bob.ID.DeviceCert.Device), b)
	})
}

// TestOversizedSignallingRefused sends a frame larger than MaxMessage on a
// real call stream: the callee drops it, counts it, and keeps working.
func TestOversizedSignallingRefused(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	bob.Host.SetStreamHandler(CallProtocol, bob.handleCallStream)
	if err := alice.Host.Connect(context.Background(), peer.AddrInfo{ID: bob.Host.ID(), Addrs: bob.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := alice.Host.NewStream(context.Background(), bob.Host.ID(), CallProtocol)
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.AppendUvarint(nil, callproto.MaxMessage+1)
	frame = append(frame, make([]byte, 1024)...)
	_, _ = s.Write(frame)
	// The callee resets the stream rather than reading megabytes.
	if _, err := io.ReadAll(s); err == nil {
		t.Log("stream closed cleanly")
	}
	test.WaitFor(t, 5*time.Second, func() error {
		if bob.sigDropped.Load() == 0 {
			return errors.New("oversized frame not counted")
		}
		return nil
	})
}

// newTestNode builds (but does not serve) the calls service of a fresh
// account, with the presence and contacts services it needs.
func newTestNode(t testing.TB, name string) *Service {
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
	svc, err := New(env, pres, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
