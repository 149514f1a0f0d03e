package calltransport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// mediaPair returns two unstarted media cores keyed for each other: what
// one seals, the other opens.
func mediaPair(t testing.TB, profile srtp.ProtectionProfile) (a, b *Media) {
	t.Helper()
	r, err := Config{Logger: discard(), ReportInterval: -1}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := testKeys(t, profile)
	if a, err = newMedia(ka, profile, &r, r.Logger); err != nil {
		t.Fatal(err)
	}
	if b, err = newMedia(kb, profile, &r, r.Logger); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func mustSeal(t testing.TB, m *Media, p *rtp.Packet) []byte {
	t.Helper()
	b, err := m.sealRTPForTest(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSealRTCP(t testing.TB, m *Media, pkts ...rtcp.Packet) []byte {
	t.Helper()
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.sealRTCPForTest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outcome names the counter a packet landed in.
func outcome(before, after Stats) string {
	switch {
	case after.PacketsReceived > before.PacketsReceived:
		return "rtp"
	case after.RTCPReceived > before.RTCPReceived:
		return "rtcp"
	case after.Dropped.Garbage > before.Dropped.Garbage:
		return "garbage"
	case after.Dropped.Truncated > before.Dropped.Truncated:
		return "truncated"
	case after.Dropped.AuthFailed > before.Dropped.AuthFailed:
		return "auth"
	case after.Dropped.Replayed > before.Dropped.Replayed:
		return "replayed"
	case after.Dropped.Malformed > before.Dropped.Malformed:
		return "malformed"
	}
	return "nothing"
}

// TestDemux feeds handcrafted datagrams to the receive path, in order,
// and checks where each one is counted.
func TestDemux(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		t.Run(profile.String(), func(t *testing.T) { testDemux(t, profile) })
	}
}

func testDemux(t *testing.T, profile srtp.ProtectionProfile) {
	a, b := mediaPair(t, profile)
	_, kb := testKeys(t, profile)

	p1 := mustSeal(t, a, testPacket(0x1111, 1, []byte("one")))
	p2 := mustSeal(t, a, testPacket(0x1111, 2, []byte("two")))
	old := mustSeal(t, a, testPacket(0x1111, 3, []byte("three")))
	csrc := testPacket(0x1111, 4, []byte("four"))
	csrc.CSRC = []uint32{1, 2, 3}
	withCSRC := mustSeal(t, a, csrc)
	sr := mustSealRTCP(t, a, &rtcp.SenderReport{SSRC: 0x1111, NTPTime: toNTP(time.Now())})
	rr := mustSealRTCP(t, a, &rtcp.ReceiverReport{SSRC: 0x1111})
	// Sealed with b's own sending key: the other direction's key.
	wrongKey := sealWith(t, profile, Keys{LocalKey: kb.LocalKey, LocalSalt: kb.LocalSalt}, testPacket(0x1111, 5, nil))
	rtcpHeaderOnly := append([]byte(nil), sr[:8]...)
	tampered := bytes.Clone(p2)
	tampered[len(tampered)-1] ^= 0x80
	hdrTampered := bytes.Clone(p2)
	hdrTampered[2] ^= 0x01 // sequence number: authenticated data
	claimsCSRC := bytes.Clone(p1)
	claimsCSRC[0] |= 0x0F // 15 CSRCs: the header no longer fits

	steps := []struct {
		name string
		pkt  []byte
		want string
	}{
		{"empty", nil, "garbage"},
		{"STUN-like first byte", []byte{0x00, 0x01, 0, 0}, "garbage"},
		{"DTLS first byte", []byte{0x16, 0xfe, 0xfd, 0}, "garbage"},
		{"TURN channel first byte", []byte{0x40, 0x00, 0, 4, 1, 2, 3, 4}, "garbage"},
		{"RTP version 1", append([]byte{0x40}, p1[1:]...), "garbage"},
		{"one byte", []byte{0x80}, "truncated"},
		{"short RTP header", p1[:11], "truncated"},
		{"header without tag", p1[:12], "truncated"},
		{"CSRC count past the end", claimsCSRC, "truncated"},
		{"short RTCP", rtcpHeaderOnly, "truncated"},
		{"wrong key", wrongKey, "auth"},
		{"tampered payload", tampered, "auth"},
		{"tampered header", hdrTampered, "auth"},
		{"valid", p1, "rtp"},
		{"replayed", p1, "replayed"},
		{"valid 2", p2, "rtp"},
		{"with CSRCs", withCSRC, "rtp"},
		{"reordered within window", old, "rtp"},
		{"reordered replay", old, "replayed"},
		{"sender report", sr, "rtcp"},
		{"RTCP replayed", sr, "replayed"},
		{"receiver report", rr, "rtcp"},
	}
	for _, s := range steps {
		before := b.Stats()
		b.handlePacket(s.pkt, time.Now())
		after := b.Stats()
		if got := outcome(before, after); got != s.want {
			t.Errorf("%s: counted as %s, want %s", s.name, got, s.want)
		}
		if n := after.PacketsReceived + after.RTCPReceived + sumDrops(after.Dropped); n != before.PacketsReceived+before.RTCPReceived+sumDrops(before.Dropped)+1 {
			t.Errorf("%s: counters moved by %d, want exactly 1", s.name, n-before.PacketsReceived-before.RTCPReceived-sumDrops(before.Dropped))
		}
	}
	var payloads []string
	for len(b.rtpCh) > 0 {
		payloads = append(payloads, string((<-b.rtpCh).Payload))
	}
	if got, want := payloads, []string{"one", "two", "four", "three"}; !equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if len(b.rtcpCh) != 2 {
		t.Errorf("%d RTCP packets queued, want 2", len(b.rtcpCh))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueueFullDropsAndCounts(t *testing.T) {
	a, b := mediaPair(t, 0)
	for i := range rtpQueueLen + 10 {
		b.handlePacket(mustSeal(t, a, testPacket(1, uint16(i), []byte("x"))), time.Now())
	}
	s := b.Stats()
	if s.PacketsReceived != rtpQueueLen+10 || s.Dropped.RTPQueueFull != 10 || len(b.rtpCh) != rtpQueueLen {
		t.Errorf("stats %+v, queue %d", s, len(b.rtpCh))
	}
}

func TestWriteRTPRefusesRTCPPayloadTypes(t *testing.T) {
	a, _ := mediaPair(t, 0)
	for _, pt := range []uint8{64, 72, 77, 95} {
		p := testPacket(1, 1, nil)
		p.PayloadType = pt
		if err := a.WriteRTP(p); !errors.Is(err, ErrPayloadTypeConflict) {
			t.Errorf("PT %d: %v, want ErrPayloadTypeConflict", pt, err)
		}
	}
	if err := a.WriteRTP(nil); !errors.Is(err, ErrBadPacket) {
		t.Errorf("nil packet: %v", err)
	}
	if err := a.WriteRTCP(nil); !errors.Is(err, ErrBadPacket) {
		t.Errorf("empty RTCP: %v", err)
	}
}

func TestRxSourceLoss(t *testing.T) {
	tests := []struct {
		name      string
		seqs      []uint16
		wantLost  int64
		wantFrac  uint8
		wantExtHi uint64
	}{
		{"in order", []uint16{10, 11, 12, 13}, 0, 0, 13},
		{"gap", []uint16{10, 11, 14, 15}, 2, 2 * 256 / 6, 15},
		{"reordered", []uint16{10, 12, 11, 13}, 0, 0, 13},
		{"duplicate", []uint16{10, 11, 11, 12}, -1, 0, 12},
		{"wrap", []uint16{65534, 65535, 0, 2}, 1, 256 / 5, 1<<16 + 2},
		{"restart confirmed", []uint16{100, 101, 20000, 20001, 20002}, 0, 0, 20002},
		{"lone jump ignored", []uint16{100, 101, 20000, 102}, 0, 0, 102},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s rxSource
			for _, q := range tt.seqs {
				s.updateSeq(q)
			}
			rr := s.report(1, time.Now())
			if s.lost() != tt.wantLost || rr.FractionLost != tt.wantFrac || s.extMax() != tt.wantExtHi {
				t.Errorf("lost %d frac %d extMax %d, want %d %d %d", s.lost(), rr.FractionLost, s.extMax(), tt.wantLost, tt.wantFrac, tt.wantExtHi)
			}
			if rr.LastSequenceNumber != uint32(tt.wantExtHi) {
				t.Errorf("LastSequenceNumber %d", rr.LastSequenceNumber)
			}
		})
	}
}

func TestRxSourceJitter(t *testing.T) {
	const rate = 8000
	t0 := time.Unix(1_700_000_000, 0)
	var steady, jumpy rxSource
	for i := range 200 {
		ts := uint32(i * 160) // 20 ms of 8 kHz audio
		steady.updateJitter(ts, rate, t0.Add(time.Duration(i)*20*time.Millisecond))
		// Every other packet 10 ms late: |D| = 80 timestamp units.
		late := time.Duration(i%2) * 10 * time.Millisecond
		jumpy.updateJitter(ts, rate, t0.Add(time.Duration(i)*20*time.Millisecond+late))
	}
	if steady.jitter > 1 {
		t.Errorf("steady stream jitter %v units, want ~0", steady.jitter)
	}
	if jumpy.jitter < 70 || jumpy.jitter > 81 {
		t.Errorf("alternating 10 ms jitter = %v units, want ~80", jumpy.jitter)
	}
}

func TestRTTFromReport(t *testing.T) {
	a, _ := mediaPair(t, 0)
	a.local[0x1111] = 8000
	now := time.Now()
	sent := now.Add(-300 * time.Millisecond)
	// The peer held our SR for 100 ms: RTT = 300 - 100 = 200 ms.
	a.processRTCP([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{
		SSRC: 0x1111, LastSenderReport: ntpMiddle(toNTP(sent)), Delay: 65536 / 10, Jitter: 80, TotalLost: 0xFFFFFF,
	}}}}, now)
	s := a.Stats()
	if s.RTTSamples != 1 || s.RTT < 199*time.Millisecond || s.RTT > 201*time.Millisecond {
		t.Errorf("RTT %v (%d samples), want 200ms", s.RTT, s.RTTSamples)
	}
	if s.RemoteJitter != 10*time.Millisecond || s.RemotePacketsLost != -1 {
		t.Errorf("remote jitter %v lost %d, want 10ms, -1", s.RemoteJitter, s.RemotePacketsLost)
	}
	// A report about an SSRC that is not ours, and one claiming an LSR in
	// the future, change nothing.
	a.processRTCP([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{
		{SSRC: 0x9999, LastSenderReport: 1},
		{SSRC: 0x1111, LastSenderReport: ntpMiddle(toNTP(now.Add(time.Second)))},
	}}}, now)
	if s2 := a.Stats(); s2.RTTSamples != 1 {
		t.Errorf("bogus reports changed RTT samples to %d", s2.RTTSamples)
	}
}

func TestNTP(t *testing.T) {
	ntp := toNTP(time.Unix(0, 0).Add(1500 * time.Millisecond))
	if secs, frac := ntp>>32, uint32(ntp); secs != ntpEpochOffset+1 || frac != 1<<31 {
		t.Errorf("toNTP = %d.%d", secs, frac)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ntp)
	if ntpMiddle(ntp) != binary.BigEndian.Uint32(b[2:6]) {
		t.Error("ntpMiddle is not the middle 32 bits")
	}
}
