package bootstrap

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromBytes(append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, b...))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCircuitACLBounded: the relay filter allows 4 circuits from one
// /24 to one destination (a fifth peer of that network is refused, one
// of another network is not), and circuit requests to ever new
// destinations do not grow what it remembers past maxTrackedCircuits.
func TestCircuitACLBounded(t *testing.T) {
	a := newSubnetACL(16, time.Hour, 2*time.Minute) // no host: sources count as connected
	now := time.Unix(1_700_000_000, 0)
	a.now = func() time.Time { return now }
	dest := randomPeer(t)
	from := func(ip string) ma.Multiaddr { return ma.StringCast("/ip4/" + ip + "/tcp/4001") }
	for i := range maxCircuitsFromSubnet {
		if !a.AllowConnect(randomPeer(t), from(fmt.Sprintf("198.51.100.%d", i+1)), dest) {
			t.Fatalf("circuit %d from one /24 refused, want %d allowed", i+1, maxCircuitsFromSubnet)
		}
	}
	if a.AllowConnect(randomPeer(t), from("198.51.100.200"), dest) {
		t.Fatalf("circuit %d from one /24 to one destination allowed", maxCircuitsFromSubnet+1)
	}
	if !a.AllowConnect(randomPeer(t), from("203.0.113.1"), dest) {
		t.Fatal("a circuit from another /24 refused")
	}
	// Once a circuit's lifetime has passed, its place is free again.
	now = now.Add(3 * time.Minute)
	if !a.AllowConnect(randomPeer(t), from("198.51.100.200"), dest) {
		t.Fatal("a circuit refused after the earlier ones' lifetime")
	}

	// One source asks for circuits to ever new destinations.
	src := randomPeer(t)
	for range 3 * maxTrackedCircuits {
		if !a.AllowConnect(src, from("192.0.2.1"), randomPeer(t)) {
			t.Fatal("a first circuit to a destination refused")
		}
	}
	n := 0
	for _, g := range a.circuits {
		n += len(g)
	}
	if n > maxTrackedCircuits || a.ncircuits != n {
		t.Fatalf("the filter remembers %d circuits (counted %d) after %d requests, want at most %d", n, a.ncircuits, 3*maxTrackedCircuits, maxTrackedCircuits)
	}
	// Past the bound, a sweep frees what has ended.
	now = now.Add(3 * time.Minute)
	a.AllowConnect(src, from("192.0.2.1"), randomPeer(t))
	if a.ncircuits > 1 {
		t.Fatalf("%d circuits remembered after every one's lifetime passed, want at most 1", a.ncircuits)
	}
}
