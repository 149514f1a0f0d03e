package records

import (
	"errors"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

func testSealKey() PresenceSealKey {
	var k PresenceSealKey
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

func fixRelays() []ma.Multiaddr {
	return []ma.Multiaddr{ma.StringCast("/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq/p2p-circuit")}
}

// TestSealedPresence: a version-2 record shows every reader its relay
// addresses only; its other addresses open with the account's presence
// key alone, and not once the box or what it is bound to was altered.
func TestSealedPresence(t *testing.T) {
	a, _ := fixtures(t)
	dk := a.devKeys[0]
	sk := testSealKey()
	data, err := NewSealedPresence(dk, a.key.ID(), fixRelays(), fixAddrs, &sk, 7, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	key := PresenceKey(dk.ID())
	p, err := ParsePresence(key, data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || len(p.Addrs) != 1 || !p.Addrs[0].Equal(fixRelays()[0]) {
		t.Fatalf("a reader without the key sees version %d, addresses %v", p.Version, p.Addrs)
	}
	for _, a := range fixAddrs {
		if bytesContain(data, a.Bytes()) {
			t.Fatalf("the sealed address %s is in the record in clear", a)
		}
	}
	got, err := p.Open(&sk)
	if err != nil || len(got) != len(fixAddrs) {
		t.Fatalf("Open: %v, %v", got, err)
	}
	for i := range got {
		if !got[i].Equal(fixAddrs[i]) {
			t.Fatalf("address %d: %s, want %s", i, got[i], fixAddrs[i])
		}
	}
	other := sk
	other[0] ^= 1
	if _, err := p.Open(&other); !errors.Is(err, ErrSealedOpen) {
		t.Fatalf("Open with another key: %v", err)
	}
	if err := Validator(func() time.Time { return testNow }).Validate(key, data); err != nil {
		t.Fatalf("the DHT validator refuses a sealed record: %v", err)
	}

	// The device re-signs a record whose box, or relay list, changed: it
	// parses (validators cannot tell) but does not open.
	tampered := *p
	tampered.Sealed = append([]byte(nil), p.Sealed...)
	tampered.Sealed[len(tampered.Sealed)-1] ^= 1
	q, err := ParsePresence(key, signRaw(t, dk.Ed25519(), PresenceContext, encodeSealedPresence(&tampered)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Open(&sk); !errors.Is(err, ErrSealedOpen) {
		t.Fatalf("Open of an altered box: %v", err)
	}
	moved := *p
	moved.Addrs = nil
	q, err = ParsePresence(key, signRaw(t, dk.Ed25519(), PresenceContext, encodeSealedPresence(&moved)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Open(&sk); !errors.Is(err, ErrSealedOpen) {
		t.Fatalf("Open after the relay list changed: %v", err)
	}

	// Only relay addresses go in clear.
	if _, err := NewSealedPresence(dk, a.key.ID(), fixAddrs[:1], nil, &sk, 8, time.Hour, testNow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a direct address in clear: %v", err)
	}
	bad := *p
	bad.Addrs = fixAddrs[:1]
	if _, err := ParsePresence(key, signRaw(t, dk.Ed25519(), PresenceContext, encodeSealedPresence(&bad)), testNow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a record with a direct address in clear: %v", err)
	}
}

func bytesContain(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}
