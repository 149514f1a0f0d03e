package natlab

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/presence"
)

// isBootstrapHost keeps packets the bootstrap host sends or receives.
func isBootstrapHost(p Packet) bool {
	for _, a := range []Packet{p} {
		if a.Src.Addr() == BootstrapAddr || a.Dst.Addr() == BootstrapAddr || a.Src.Addr() == ProbeAddr || a.Dst.Addr() == ProbeAddr {
			return true
		}
	}
	return false
}

// serverPort is the bootstrap's end of a packet.
func serverPort(p Packet) uint16 {
	if p.Src.Addr() == BootstrapAddr {
		return p.Src.Port()
	}
	return p.Dst.Port()
}

// TestServersSeeNoSecrets captures everything the bootstrap host sends and
// receives while a symmetric-NAT caller calls a UDP-blocked callee: the
// call's signalling crosses the circuit relay and its media the TURN relay
// (over UDP on one side, over TCP on the other). It then shows, on that
// real traffic:
//
//   - TURN relays RTP whose headers it can read but whose payload is never
//     the tone in clear, and no SRTP master key or salt of either side
//     appears anywhere, raw or encoded;
//   - every libp2p connection to the bootstrap (DHT, circuit relay, TURN
//     credentials) is TLS 1.3 or Noise over TCP, or QUIC, from its first
//     byte, with only the security handshake in clear, so the relayed call
//     signalling, the call ID, the SAS, the account IDs, the candidates'
//     LAN addresses and Parley's protocol names never appear.
//
// The detectors are checked too: a tone payload or a key spliced into
// captured bytes is found.
func TestServersSeeNoSecrets(t *testing.T) {
	t.Parallel()
	var capt *Capture
	s := startSession(t, Cast{Callers: []Kind{Symmetric}, Callees: []Kind{UDPBlocked}}, 0, func(l *Lab) {
		var err error
		if capt, err = l.StartCapture(l.Server(), isBootstrapHost); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { capt.Stop() })
	})
	caller, callee := s.Callers[Symmetric], s.Callees[UDPBlocked]
	r, err := s.Call(t.Context(), Symmetric, UDPBlocked, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkCall(t, r, 3*time.Second)
	var look apitype.Lookup
	if err := caller.CLIJSON(t.Context(), &look, "lookup", callee.AccountID); err != nil {
		t.Fatal(err)
	}
	if len(look.Devices) != 1 || look.Devices[0].Path != "relay" {
		t.Fatalf("caller's connection to the callee: %+v, want one device connected through the circuit relay", look.Devices)
	}
	pkts := capt.Stop()
	kernelDrops, bad := capt.Dropped()
	if kernelDrops > 0 {
		t.Fatalf("the capture missed %d packets", kernelDrops)
	}
	t.Logf("captured %d packets to or from the bootstrap host (%d undecodable)", len(pkts), bad)
	t.Logf("DHT presence record of the callee as a contact opens it (a stranger reads the relay addresses only): %v", look.Devices[0].Addrs)
	// The callee is behind NAT: its presence record carries relay
	// addresses and public ones only (the public ones sealed under its
	// presence key), never its LAN or loopback addresses.
	for _, a := range look.Devices[0].Addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			t.Fatalf("presence address %q: %v", a, err)
		}
		if !presence.IsRelayAddr(m) && presence.IsPrivateAddr(m) {
			t.Errorf("the callee's presence record carries the private address %s", a)
		}
	}

	var dgrams [][]byte // UDP payloads, each on its own
	var quic, turnUDP, relayed, rtpHeaders int
	for _, p := range pkts {
		if p.Proto != protoUDP {
			continue
		}
		dgrams = append(dgrams, p.Payload)
		switch port := serverPort(p); port {
		case 4001:
			quic++
			if err := CheckQUIC(p.Payload); err != nil {
				t.Errorf("libp2p over QUIC %v → %v: %v", p.Src, p.Dst, err)
			}
		case 3478:
			turnUDP++
		default:
			relayed++ // between a TURN allocation and a peer: bare SRTP
			if len(p.Payload) >= 12 && p.Payload[0]>>6 == 2 && p.Payload[1]&0x7f == 0 {
				rtpHeaders++
			}
		}
	}
	streams := Reassemble(pkts)
	var libp2pStreams, turnTCPBytes, libp2pTCPBytes int
	for _, st := range streams {
		switch port := serverPortOfFlow(st.Flow); {
		case port == 4001 || port == 443:
			if !st.FromStart {
				t.Errorf("%v: capture missed the start of the connection", st.Flow)
				continue
			}
			sc, err := CheckSecureChannel(st.Data)
			if err != nil {
				t.Errorf("libp2p over TCP %v (%d bytes): %v", st.Flow, len(st.Data), err)
				continue
			}
			if st.Gap {
				t.Errorf("%v: gap in the captured stream", st.Flow)
			}
			libp2pStreams++
			libp2pTCPBytes += len(st.Data)
			t.Logf("libp2p TCP %v: %d bytes, %s, clear %q, %d records (%d handshake), %d bytes encrypted",
				st.Flow, len(st.Data), sc.Security, sc.Clear, sc.Records, sc.HandshakeRecords, sc.Encrypted)
		case port == 3478:
			turnTCPBytes += len(st.Data)
		}
	}
	t.Logf("QUIC datagrams %d, TURN/STUN datagrams %d, relayed datagrams %d (%d with a readable RTP header: PT 0, SSRC, sequence), libp2p TCP streams %d (%d bytes), TURN over TCP %d bytes",
		quic, turnUDP, relayed, rtpHeaders, libp2pStreams, libp2pTCPBytes, turnTCPBytes)
	// The UDP-blocked callee reaches TURN over a TURN stream inside its
	// libp2p connection (docs/protocol.md), or over TCP to 3478 when it has
	// not yet learnt the bootstrap serves streams: 3 s of media each way
	// is some 50 kB either way, far above the DHT's and signalling's share.
	if rtpHeaders < 100 || turnTCPBytes+libp2pTCPBytes < 40000 || libp2pStreams == 0 {
		t.Fatalf("the capture did not see the relayed call (want ≥ 100 relayed RTP packets, ≥ 40 kB of TURN over TCP or libp2p over TCP, a libp2p TCP connection)")
	}

	haystacks := dgrams
	for _, st := range streams {
		haystacks = append(haystacks, st.Data)
	}

	tones, err := NewToneMatcher(CallerToneHz, CalleeToneHz)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range haystacks {
		if f, off, ok := tones.Find(h); ok {
			t.Fatalf("the %v Hz tone appears in clear at offset %d of %d captured bytes", f, off, len(h))
		}
	}

	needles := map[string][]byte{
		"call protocol ID":    []byte("/parley/call/1.0.0"),
		"contact protocol ID": []byte("/parley/contact/1.0.0"),
		"relay hop protocol":  []byte("/libp2p/circuit/relay/0.2.0/hop"),
		"call ID":             []byte(r.ID),
		"SAS":                 []byte(r.CallerEnd.Call.SAS),
		"caller account ID":   []byte(caller.AccountID),
		"callee account ID":   []byte(callee.AccountID),
		"a LAN address":       []byte("10.200."),
		// TURN usernames are opaque tokens (docs/threat-model.md).
		"caller device ID": []byte(caller.DeviceID),
		"callee device ID": []byte(callee.DeviceID),
	}
	for _, d := range []*Daemon{caller, callee} {
		keys, err := ReadKeyLog(d.KeyLog)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatalf("%s logged no SRTP keys: the lab binaries lack -tags %s?", d.Name, BuildTag)
		}
		for i, k := range keys {
			for name, n := range k.Needles(fmt.Sprintf("%s leg %d", d.Name, i)) {
				needles[name] = n
			}
		}
	}
	for _, h := range haystacks {
		if found := FindNeedles(h, needles); len(found) > 0 {
			t.Fatalf("seen in clear by the bootstrap host: %s", strings.Join(found, ", "))
		}
	}

	// The detectors work: spliced into captured bytes, a tone payload and a
	// key are found.
	probe := append(bytes.Clone(dgrams[len(dgrams)-1]), tones.Payloads[CalleeToneHz][40:80]...)
	if _, _, ok := tones.Find(probe); !ok {
		t.Fatal("tone matcher missed a spliced tone payload")
	}
	keys, _ := ReadKeyLog(caller.KeyLog)
	probe = append(bytes.Clone(streams[0].Data), keys[0].RemoteSalt...)
	if found := FindNeedles(probe, needles); len(found) == 0 {
		t.Fatal("needle search missed a spliced salt")
	}
}

func serverPortOfFlow(f Flow) uint16 {
	if f.Src.Addr() == BootstrapAddr {
		return f.Src.Port()
	}
	return f.Dst.Port()
}
