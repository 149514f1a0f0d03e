package turnsrv

import (
	"net"
	"testing"
)

func TestPeerRefusal(t *testing.T) {
	for _, tc := range []struct {
		peer    string
		refused bool
	}{
		// Refused.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"::", true},
		{"::1", true},
		{"fe80::1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fec0::1", true},
		{"ff02::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:192.168.0.1", true},
		{"64:ff9b::a00:1", true},     // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", true},    // NAT64 of 127.0.0.1
		{"64:ff9b:1::808:808", true}, // local-use NAT64 prefix
		// Allowed.
		{"100.64.0.1", false}, // CGNAT: deliberately allowed
		{"100.127.255.254", false},
		{"203.0.113.5", false},
		{"8.8.8.8", false},
		{"172.15.255.255", false},
		{"172.32.0.1", false},
		{"192.169.0.1", false},
		{"11.0.0.1", false},
		{"2001:db8::1", false},
		{"2606:4700:4700::1111", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"64:ff9b::6440:1", false},  // NAT64 of 100.64.0.1
	} {
		t.Run(tc.peer, func(t *testing.T) {
			ip := net.ParseIP(tc.peer)
			if ip == nil {
				t.Fatalf("bad test address %q", tc.peer)
			}
			why, refused := peerRefusal(ip)
			if refused != tc.refused {
				t.Errorf("peerRefusal(%s) = %v (%q), want %v", tc.peer, refused, why, tc.refused)
			}
			if refused && why == "" {
				t.Errorf("peerRefusal(%s) gave no reason", tc.peer)
			}
			// The 4-byte form must be judged like the 16-byte one.
			if v4 := ip.To4(); v4 != nil {
				if _, r4 := peerRefusal(v4); r4 != refused {
					t.Errorf("peerRefusal(4-byte %s) = %v, 16-byte form %v", tc.peer, r4, refused)
				}
			}
		})
	}
	for _, bad := range []net.IP{nil, {1, 2, 3}} {
		if _, refused := peerRefusal(bad); !refused {
			t.Errorf("peerRefusal(%v) allowed an invalid address", bad)
		}
	}
}

func TestPermitCountsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name         string
		allowPrivate bool
		peer         net.IP
		wantOK       bool
		wantRefused  uint64
	}{
		{"private refused", false, net.IPv4(192, 168, 0, 1), false, 1},
		{"public allowed", false, net.IPv4(203, 0, 113, 5), true, 0},
		{"private allowed by config", true, net.IPv4(192, 168, 0, 1), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{allowPrivatePeers: tc.allowPrivate, log: discardLogger(), metrics: new(Metrics)}
			client := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5000}
			if ok := s.permit(client, tc.peer); ok != tc.wantOK {
				t.Errorf("permit = %v, want %v", ok, tc.wantOK)
			}
			if got := s.metrics.PeerRefused.Load(); got != tc.wantRefused {
				t.Errorf("PeerRefused = %d, want %d", got, tc.wantRefused)
			}
		})
	}
}

// FuzzPeerRefusal feeds raw peer addresses, as they come off the wire in
// XOR-PEER-ADDRESS, to the filter: every IPv4 address must be judged the
// same in its 4-byte, IPv4-mapped and NAT64 forms.
func FuzzPeerRefusal(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "100.64.0.1", "203.0.113.5", "::1", "fe80::1", "64:ff9b::a00:1"} {
		f.Add([]byte(net.ParseIP(s)))
	}
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, refused := peerRefusal(net.IP(b))
		if len(b) != net.IPv4len && len(b) != net.IPv6len {
			if !refused {
				t.Fatalf("allowed %d-byte address", len(b))
			}
			return
		}
		v4 := net.IP(b).To4()
		if v4 == nil {
			return
		}
		nat64 := append(net.ParseIP("64:ff9b::")[:12:12], v4...)
		for _, form := range []net.IP{v4, v4.To16(), nat64} {
			if _, r := peerRefusal(form); r != refused {
				t.Fatalf("%v: refused=%v, but %v refused=%v", net.IP(b), refused, form, r)
			}
		}
	})
}
