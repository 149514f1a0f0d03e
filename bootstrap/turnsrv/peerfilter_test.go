package turnsrv

import (
	"net"
	"net/netip"
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
		{"100.64.0.1", true},         // CGNAT (RFC 6598)
		{"100.127.255.254", true},
		{"::ffff:100.100.100.100", true},
		{"64:ff9b::6440:1", true}, // NAT64 of 100.64.0.1
		// Allowed.
		{"100.63.255.255", false},
		{"100.128.0.1", false},
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
		allowCGNAT   bool
		peer         net.IP
		wantOK       bool
		wantRefused  uint64
	}{
		{"private refused", false, false, net.IPv4(192, 168, 0, 1), false, 1},
		{"public allowed", false, false, net.IPv4(203, 0, 113, 5), true, 0},
		{"private allowed by config", true, false, net.IPv4(192, 168, 0, 1), true, 0},
		{"CGNAT refused", false, false, net.IPv4(100, 64, 3, 4), false, 1},
		{"CGNAT allowed by config", false, true, net.IPv4(100, 64, 3, 4), true, 0},
		{"CGNAT allowed with private peers", true, false, net.IPv4(100, 64, 3, 4), true, 0},
		{"CGNAT allowance is not private", false, true, net.IPv4(10, 0, 0, 1), false, 1},
		{"server address refused", false, false, net.IPv4(198, 51, 100, 99), false, 1},
		{"relay address allowed (ports checked per datagram)", false, false, net.IPv4(198, 51, 100, 1), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeerPolicy(Config{
				RelayIP: net.IPv4(198, 51, 100, 1), RelayBindAddr: "198.51.100.1",
				ServerAddrs:       []net.IP{net.IPv4(198, 51, 100, 99)},
				AllowPrivatePeers: tc.allowPrivate, AllowCGNATPeers: tc.allowCGNAT,
			})
			s := &Server{policy: p, log: discardLogger(), metrics: new(Metrics)}
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

// TestRelayOnlyPorts: at the server's relay address only the ports of live
// relay sockets may be sent to; with a wildcard bind every address of the
// server is a relay address; AllowServerPeers lifts the rule.
func TestRelayOnlyPorts(t *testing.T) {
	relay := netip.MustParseAddr("198.51.100.1")
	other := netip.MustParseAddr("198.51.100.99")
	p := newPeerPolicy(Config{RelayIP: relay.AsSlice(), RelayBindAddr: relay.String(), ServerAddrs: []net.IP{other.AsSlice()}})
	ap := func(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
	if p.sendAllowed(ap(relay, 40000)) {
		t.Error("sent to a relay-address port with no relay socket")
	}
	p.relayOpened(40000)
	if !p.sendAllowed(ap(relay, 40000)) || !p.sendAllowed(netip.AddrPortFrom(netip.MustParseAddr("::ffff:198.51.100.1"), 40000)) {
		t.Error("refused a live relay socket's port")
	}
	if p.sendAllowed(ap(other, 40000)) {
		t.Error("sent to another server address at a relay port (the relay is bound to the relay IP only)")
	}
	if p.sendAllowed(ap(relay, 22)) {
		t.Error("sent to port 22 of the server")
	}
	p.relayClosed(40000)
	if p.sendAllowed(ap(relay, 40000)) {
		t.Error("sent to a closed relay's port")
	}
	if !p.sendAllowed(ap(netip.MustParseAddr("203.0.113.5"), 22)) {
		t.Error("refused a public peer")
	}

	wild := newPeerPolicy(Config{RelayIP: relay.AsSlice(), RelayBindAddr: "0.0.0.0", ServerAddrs: []net.IP{other.AsSlice()}})
	wild.relayOpened(40000)
	if !wild.sendAllowed(ap(other, 40000)) || wild.sendAllowed(ap(other, 40001)) {
		t.Error("wildcard bind: every server address should be a relay address, at relay ports only")
	}
	open := newPeerPolicy(Config{RelayIP: relay.AsSlice(), RelayBindAddr: relay.String(), AllowServerPeers: true})
	if !open.sendAllowed(ap(relay, 22)) {
		t.Error("AllowServerPeers did not allow the server's own address")
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
