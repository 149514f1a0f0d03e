package calltransport

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// FuzzAddRemoteCandidate drives the untrusted candidate path: parsing and
// policy, then (for the first accepted inputs) a real, unstarted pion
// agent. Accepted candidates must survive marshal→parse→marshal unchanged.
func FuzzAddRemoteCandidate(f *testing.F) {
	for _, s := range []string{
		"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
		"1 1 UDP 1694498815 203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 50000",
		"a=candidate:3 1 udp 16777215 198.51.100.1 3478 typ relay raddr 203.0.113.7 rport 61000",
		"4 1 udp 1862270975 [2001:db8::1] 9 typ prflx",
		"5 1 udp 2130706431 2001:db8::2 40000 typ host generation 0 ufrag abcd network-id 1",
		"6 1 tcp 2128609279 127.0.0.1 9 typ host tcptype active",
		"7 1 udp 2130706431 abcd.local 5000 typ host",
		"8 2 udp 2130706431 127.0.0.1 5000 typ host",
		"9 1 udp 99999999999 127.0.0.1 5000 typ host",
		"",
		"candidate:",
	} {
		f.Add(s)
	}
	l, err := NewLeg(Config{Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = l.Close() })
	const agentBudget = 200 // candidates handed to pion per fuzz process
	l.setMaxRemotesForTest(agentBudget)

	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseRemoteCandidate(s)
		if err != nil {
			if !errors.Is(err, ErrBadCandidate) {
				t.Fatalf("error %v is not ErrBadCandidate", err)
			}
			if err := l.AddRemoteCandidate(s); s != "" && err == nil {
				t.Fatalf("AddRemoteCandidate accepted what parse refused: %q", s)
			}
			return
		}
		m1 := c.Marshal()
		c2, err := parseRemoteCandidate(m1)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", m1, s, err)
		}
		if m2 := c2.Marshal(); m2 != m1 {
			t.Fatalf("marshal not stable: %q → %q", m1, m2)
		}
		if c.Type() != c2.Type() || c.Address() != c2.Address() || c.Port() != c2.Port() ||
			c.Priority() != c2.Priority() || c.NetworkType() != c2.NetworkType() {
			t.Fatalf("round trip changed %q into %q", s, m1)
		}
		if err := l.AddRemoteCandidate(s); err != nil && !errors.Is(err, ErrTooManyCandidates) {
			t.Fatalf("AddRemoteCandidate(%q): %v", s, err)
		}
	})
}

// FuzzHandlePacket drives the receive path with arbitrary datagrams, after
// a valid packet established state for one SSRC. Every datagram must land
// in exactly one counter; a delivered packet must re-marshal to what was
// sealed.
func FuzzHandlePacket(f *testing.F) {
	seedA, _ := mediaPair(f, 0)
	f.Add(mustSeal(f, seedA, testPacket(0x1111, 2, []byte("payload"))))
	f.Add(mustSealRTCP(f, seedA, &rtcp.SenderReport{SSRC: 0x1111, Reports: []rtcp.ReceptionReport{{SSRC: 0x2222}}}))
	replayA, _ := mediaPair(f, 0) // seq 1 after 2 would be refused on seedA
	f.Add(mustSeal(f, replayA, testPacket(0x1111, 1, []byte("replay"))))
	f.Add([]byte{0x80, 0x00, 0x00})
	f.Add([]byte{0x80, 0xc8, 0x00, 0x01, 0, 0, 0, 0})
	f.Add([]byte("garbage"))

	f.Fuzz(func(t *testing.T, b []byte) {
		a, m := mediaPair(t, 0)
		m.handlePacket(mustSeal(t, a, testPacket(0x1111, 1, []byte("replay"))), time.Now())
		<-m.rtpCh
		before := m.Stats()
		m.handlePacket(bytes.Clone(b), time.Now())
		after := m.Stats()
		moved := after.PacketsReceived + after.RTCPReceived + sumDrops(after.Dropped) -
			(before.PacketsReceived + before.RTCPReceived + sumDrops(before.Dropped))
		if moved != 1 {
			t.Fatalf("counters moved by %d: %+v", moved, after)
		}
		if after.PacketsReceived > before.PacketsReceived {
			p := <-m.rtpCh
			raw, err := p.Marshal()
			if err != nil {
				t.Fatalf("delivered packet does not marshal: %v", err)
			}
			var q rtp.Packet
			if err := q.Unmarshal(raw); err != nil || q.SSRC != p.SSRC || q.SequenceNumber != p.SequenceNumber ||
				!bytes.Equal(q.Payload, p.Payload) {
				t.Fatalf("round trip changed the packet: %v", err)
			}
		}
		if after.RTCPReceived > before.RTCPReceived && len(<-m.rtcpCh) == 0 {
			t.Fatal("delivered an empty RTCP compound packet")
		}
	})
}
