package dhtstore

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
)

var testNow = time.Now()

func clock() time.Time { return testNow }

// rec is one record as a client sends it and as the datastore stores it.
type rec struct {
	key   string // DHT key
	value []byte // signed Parley record
}

// dsKey and dsValue are what kad-dht's ValueStore passes to Put.
func (r rec) dsKey() ds.Key { return ds.NewKey(fmt.Sprintf("/x/%x", r.key)) }
func (r rec) dsValue(t testing.TB) []byte {
	t.Helper()
	b, err := proto.Marshal(&recpb.Record{Key: []byte(r.key), Value: r.value, TimeReceived: "2030-01-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// acct is an account with its record and one presence record per device.
type acct struct {
	id        crypto.AccountID
	record    rec
	presences []rec
}

func newAcct(t testing.TB, devices int, ttl time.Duration) acct {
	t.Helper()
	ak, err := crypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := crypto.CreateAccountCert(ak, "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := acct{id: ak.ID()}
	var dcs []*crypto.DeviceCert
	for range devices {
		dk, err := crypto.NewDeviceKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := crypto.IssueDeviceCert(ak, ac, dk.Public(), "", crypto.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dcs = append(dcs, dc)
		a.presences = append(a.presences, presenceOf(t, dk, a.id, ttl))
	}
	v, err := records.NewAccount(ak, ac, dcs, nil, 1, ttl, testNow)
	if err != nil {
		t.Fatal(err)
	}
	a.record = rec{records.AccountKey(a.id), v}
	return a
}

func presenceOf(t testing.TB, dk *crypto.DeviceKey, account crypto.AccountID, ttl time.Duration) rec {
	t.Helper()
	v, err := records.NewPresence(dk, account, nil, 1, ttl, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return rec{records.PresenceKey(dk.ID()), v}
}

// junkPresence is a presence record of a fresh device claiming a fresh
// account that has no record: dead.
func junkPresence(t testing.TB) rec {
	t.Helper()
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := crypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return presenceOf(t, dk, ak.ID(), time.Hour)
}

func newStore(t testing.TB, l Limits) (*Store, *Metrics) {
	t.Helper()
	m := new(Metrics)
	s, err := New(Options{Limits: l, Now: clock, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

// put stores r as if from sent it in a PUT_VALUE (the zero sender: local).
func put(t testing.TB, s *Store, from sender, r rec) error {
	t.Helper()
	if from != (sender{}) {
		s.notes.add(r.key, hashValue(r.value), from, s.now())
	}
	return s.Put(context.Background(), r.dsKey(), r.dsValue(t))
}

func has(t testing.TB, s *Store, r rec) bool {
	t.Helper()
	ok, err := s.Has(context.Background(), r.dsKey())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func peerSender(i int) sender {
	return sender{peer: peer.ID(fmt.Sprintf("peer-%d", i)), ip: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 32)}
}

// big is loose caps that the tests narrow one at a time.
func big() Limits {
	return Limits{MaxRecords: 1 << 20, MaxBytes: 1 << 40, MaxRecordsPerPeer: 1 << 20, MaxBytesPerPeer: 1 << 40,
		MaxRecordsPerIP: 1 << 20, MaxBytesPerIP: 1 << 40}
}

// checkUsage compares Usage with what a full query of the store counts.
func checkUsage(t *testing.T, s *Store) (int, int64) {
	t.Helper()
	n, b := s.Usage()
	res, err := s.Query(context.Background(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var qb int64
	for _, e := range all {
		qb += int64(len(e.Key) + len(e.Value))
	}
	if len(all) != n || qb != b {
		t.Fatalf("Usage = %d records, %d bytes; a query finds %d, %d", n, b, len(all), qb)
	}
	return n, b
}

func TestPerPeerCap(t *testing.T) {
	l := big()
	l.MaxRecordsPerPeer = 5
	s, m := newStore(t, l)
	flooder, other := peerSender(1), peerSender(2)
	var sent []rec
	for range 20 {
		r := junkPresence(t)
		sent = append(sent, r)
		if err := put(t, s, flooder, r); err != nil {
			t.Fatal(err)
		}
	}
	legit := junkPresence(t)
	if err := put(t, s, other, legit); err != nil {
		t.Fatal(err)
	}
	if n, _ := checkUsage(t, s); n != 6 {
		t.Fatalf("%d records stored, want 5 of the flooder and 1 of the other peer", n)
	}
	for i, r := range sent {
		if want := i >= 15; has(t, s, r) != want {
			t.Errorf("flooder's record %d stored = %v, want %v (the newest 5 stay)", i, !want, want)
		}
	}
	if !has(t, s, legit) {
		t.Error("the other peer's record was dropped")
	}
	if got := m.EvictedPeer.Load(); got != 15 {
		t.Errorf("EvictedPeer = %d, want 15", got)
	}
}

func TestPerPeerByteCap(t *testing.T) {
	r := junkPresence(t)
	size := int64(len(r.dsKey().String()) + len(r.dsValue(t)))
	l := big()
	l.MaxBytesPerPeer = 3*size + size/2
	s, m := newStore(t, l)
	for range 10 {
		if err := put(t, s, peerSender(1), junkPresence(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n, b := checkUsage(t, s); n != 3 || b > l.MaxBytesPerPeer {
		t.Fatalf("stored %d records, %d bytes; want 3 within %d bytes", n, b, l.MaxBytesPerPeer)
	}
	if m.EvictedPeer.Load() != 7 {
		t.Errorf("EvictedPeer = %d, want 7", m.EvictedPeer.Load())
	}
	l.MaxBytesPerPeer = size - 1
	s, m = newStore(t, l)
	if err := put(t, s, peerSender(1), r); err == nil || m.Refused.Load() != 1 {
		t.Fatalf("a record over the byte cap on its own: Put = %v, Refused = %d; want ErrTooLarge, 1", err, m.Refused.Load())
	}
}

// TestPerIPCap: many peer IDs from one address share the per-IP caps.
func TestPerIPCap(t *testing.T) {
	l := big()
	l.MaxRecordsPerIP = 10
	s, m := newStore(t, l)
	ip := netip.MustParsePrefix("203.0.113.9/32")
	for i := range 30 {
		if err := put(t, s, sender{peer: peer.ID(fmt.Sprint("sybil-", i)), ip: ip}, junkPresence(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := checkUsage(t, s); n != 10 {
		t.Fatalf("%d records from one address, want 10", n)
	}
	if m.EvictedIP.Load() != 20 {
		t.Errorf("EvictedIP = %d, want 20", m.EvictedIP.Load())
	}
}

// TestTotalEvictsDeadFirst fills the store with live accounts, then floods
// it with presence records of accounts that have no record: the flood
// evicts itself, never a live account, until only live records are left to
// evict, and then the oldest goes.
func TestTotalEvictsDeadFirst(t *testing.T) {
	l := big()
	l.MaxRecords = 12
	s, m := newStore(t, l)
	var live []acct
	for i := range 4 { // 4 × (account record + 1 presence) = 8 records
		a := newAcct(t, 2, time.Hour) // 2 devices, only the first publishes presence
		live = append(live, a)
		if err := put(t, s, peerSender(i), a.record); err != nil {
			t.Fatal(err)
		}
		if err := put(t, s, peerSender(i), a.presences[0]); err != nil {
			t.Fatal(err)
		}
	}
	// An account record without presence (dead), then a flood.
	lonely := newAcct(t, 1, time.Hour)
	if err := put(t, s, peerSender(50), lonely.record); err != nil {
		t.Fatal(err)
	}
	var junk []rec
	for i := range 40 {
		r := junkPresence(t)
		junk = append(junk, r)
		if err := put(t, s, peerSender(100+i), r); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := checkUsage(t, s); n != 12 {
		t.Fatalf("%d records, want 12", n)
	}
	for i, a := range live {
		if !has(t, s, a.record) || !has(t, s, a.presences[0]) {
			t.Errorf("live account %d was evicted by the flood", i)
		}
	}
	if has(t, s, lonely.record) {
		t.Error("the account record with no presence survived the flood")
	}
	for i, r := range junk {
		if want := i >= 36; has(t, s, r) != want {
			t.Errorf("junk %d stored = %v, want %v", i, !want, want)
		}
	}
	// Another live account: with dead records left they go first...
	extra := newAcct(t, 1, time.Hour)
	for _, r := range []rec{extra.record, extra.presences[0]} {
		if err := put(t, s, peerSender(200), r); err != nil {
			t.Fatal(err)
		}
	}
	// ... and once only live records are left, the oldest live one goes.
	for i := range 4 {
		a := newAcct(t, 1, time.Hour)
		for _, r := range []rec{a.record, a.presences[0]} {
			if err := put(t, s, peerSender(300+i), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if has(t, s, live[0].record) {
		t.Error("the oldest live record survived when only live records were left")
	}
	if !has(t, s, live[3].presences[0]) {
		t.Error("a newer live record was evicted before the oldest")
	}
	if m.EvictedTotal.Load() == 0 {
		t.Error("EvictedTotal not counted")
	}
}

// TestLiveness: a presence record is live only while its account's record
// lists the device, and the account record only while a listed device has
// a presence record here.
func TestLiveness(t *testing.T) {
	s, _ := newStore(t, big())
	a := newAcct(t, 2, time.Hour)
	isLive := func(r rec) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		e := s.entries[r.dsKey()]
		if e == nil {
			t.Fatalf("%q not stored", r.key)
		}
		return e.live
	}
	mustPut := func(r rec) {
		if err := put(t, s, peerSender(1), r); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(a.presences[0])
	if isLive(a.presences[0]) {
		t.Error("presence live without its account record")
	}
	mustPut(a.record)
	if !isLive(a.record) || !isLive(a.presences[0]) {
		t.Error("account record and listed presence not live together")
	}
	// A device claiming the account that the record does not list.
	dk, _ := crypto.NewDeviceKey(nil)
	stranger := presenceOf(t, dk, a.id, time.Hour)
	mustPut(stranger)
	if isLive(stranger) {
		t.Error("a presence record of a device the account does not list is live")
	}
	if err := s.Delete(context.Background(), a.presences[0].dsKey()); err != nil {
		t.Fatal(err)
	}
	if isLive(a.record) {
		t.Error("account record still live after its only presence record went")
	}
	mustPut(a.presences[1])
	if !isLive(a.record) {
		t.Error("account record not live with the other device's presence")
	}
	if err := s.Delete(context.Background(), a.record.dsKey()); err != nil {
		t.Fatal(err)
	}
	if isLive(a.presences[1]) {
		t.Error("presence still live after the account record went")
	}
}

// TestReputKeepsSender: sending a record someone else stored does not
// move it into your own per-peer cap, where your next records would push
// it out.
func TestReputKeepsSender(t *testing.T) {
	l := big()
	l.MaxRecordsPerPeer = 2
	s, _ := newStore(t, l)
	victim := junkPresence(t)
	if err := put(t, s, peerSender(1), victim); err != nil {
		t.Fatal(err)
	}
	attacker := peerSender(2)
	if err := put(t, s, attacker, victim); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := put(t, s, attacker, junkPresence(t)); err != nil {
			t.Fatal(err)
		}
	}
	if !has(t, s, victim) {
		t.Fatal("the attacker evicted another peer's record by re-sending it")
	}
}

func TestExpirySweep(t *testing.T) {
	now := testNow
	s, err := New(Options{Limits: big(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	short := newAcct(t, 1, 2*time.Minute)
	long := newAcct(t, 1, time.Hour)
	for _, r := range []rec{short.record, short.presences[0], long.record, long.presences[0]} {
		if err := put(t, s, peerSender(1), r); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(3 * time.Minute)
	if err := put(t, s, peerSender(2), junkPresence(t)); err != nil {
		t.Fatal(err)
	}
	if has(t, s, short.record) || has(t, s, short.presences[0]) {
		t.Error("expired records not swept")
	}
	if !has(t, s, long.record) || s.metrics.Expired.Load() != 2 {
		t.Errorf("sweep: long-lived record kept = %v, Expired = %d; want true, 2", has(t, s, long.record), s.metrics.Expired.Load())
	}
}

func TestNotes(t *testing.T) {
	n := newNotes()
	now := testNow
	a := sender{peer: "a"}
	n.add("k", valueHash{1}, a, now)
	if got := n.take("k", valueHash{2}, now); got != (sender{}) {
		t.Errorf("another value matched the note: %v", got)
	}
	if got := n.take("k", valueHash{1}, now); got != a {
		t.Errorf("take = %v, want %v", got, a)
	}
	if got := n.take("k", valueHash{1}, now); got != (sender{}) {
		t.Errorf("a note was used twice: %v", got)
	}
	n.add("old", valueHash{}, a, now)
	if got := n.take("old", valueHash{}, now.Add(pendingTTL)); got != (sender{}) {
		t.Errorf("a note older than pendingTTL was used: %v", got)
	}
	for i := range maxPending + 10 {
		n.add(fmt.Sprint(i), valueHash{}, a, now)
	}
	if n.order.Len() != maxPending || len(n.byKey) != maxPending {
		t.Errorf("%d notes kept (%d indexed), want %d", n.order.Len(), len(n.byKey), maxPending)
	}
}

func TestLimitsCheck(t *testing.T) {
	for _, l := range []Limits{BootstrapLimits(), NodeLimits()} {
		if err := l.Check(); err != nil {
			t.Errorf("default %+v: %v", l, err)
		}
	}
	l := BootstrapLimits()
	l.MaxBytesPerIP = 0
	if _, err := New(Options{Limits: l}); err == nil {
		t.Error("New accepted a zero cap")
	}
}

// newBlinded returns a blinded account record and a blinded presence record
// of a fresh account with one device, whose inner records live ttl.
func newBlinded(t testing.TB, ttl time.Duration) []rec {
	t.Helper()
	ak, err := crypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := crypto.CreateAccountCert(ak, "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := crypto.IssueDeviceCert(ak, ac, dk.Public(), "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := records.NewAccount(ak, ac, []*crypto.DeviceCert{dc}, nil, 1, ttl, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p := records.Period(testNow)
	acc, err := records.NewBlindAccount(ak, inner, p, uint64(testNow.UnixMilli()), testNow)
	if err != nil {
		t.Fatal(err)
	}
	accKey, err := records.BlindAccountKey(ak.Public(), p)
	if err != nil {
		t.Fatal(err)
	}
	var k records.PresenceSealKey
	k[0] = 1
	innerP, err := records.NewPresence(dk, ak.ID(), nil, 1, ttl, testNow)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := records.NewBlindPresence(dk, &k, innerP, p, uint64(testNow.UnixMilli()), testNow)
	if err != nil {
		t.Fatal(err)
	}
	presKey, err := records.BlindPresenceKey(dk.Public(), &k, p)
	if err != nil {
		t.Fatal(err)
	}
	return []rec{{accKey, acc}, {presKey, pres}}
}

// TestBlindedRecords: blinded records are stored (never live: the store
// cannot tell whose they are) and swept out at their own expiry.
func TestBlindedRecords(t *testing.T) {
	now := testNow
	s, err := New(Options{Limits: big(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	short := newBlinded(t, 2*time.Minute)
	for _, r := range short {
		if err := put(t, s, peerSender(1), r); err != nil {
			t.Fatal(err)
		}
		e := s.entries[r.dsKey()]
		if e == nil || e.meta.kind != kindBlinded || e.live || !e.meta.expires.After(now) {
			t.Fatalf("stored blinded record: %+v", e)
		}
	}
	if len(s.accounts) != 0 {
		t.Errorf("blinded records linked to %d accounts", len(s.accounts))
	}
	now = now.Add(3 * time.Minute)
	if err := put(t, s, peerSender(2), junkPresence(t)); err != nil {
		t.Fatal(err)
	}
	for _, r := range short {
		if has(t, s, r) {
			t.Error("expired blinded record not swept")
		}
	}
	if got := s.metrics.Expired.Load(); got != 2 {
		t.Errorf("Expired = %d, want 2", got)
	}
}
