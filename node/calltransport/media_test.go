package calltransport

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// setupTime starts both legs of p and streams RTP from a to b from the
// moment Start returns, and reports how long it took until b decrypted the
// first packet, and until both legs were connected.
func setupTime(t *testing.T, p *legPair) (connected, firstPacket time.Duration, ma, mb *Media) {
	t.Helper()
	t0 := time.Now()
	p.start()
	ma, mb = p.startMedia()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			_ = ma.WriteRTP(testPacket(probeSSRC, seq, []byte("probe"))) // fails until a pair works
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	p.waitConnected(10 * time.Second)
	connected = time.Since(t0)
	waitFor(t, 10*time.Second, "first packet", func() error {
		if mb.Stats().FirstReceived.IsZero() {
			return errors.New("nothing decrypted yet")
		}
		return nil
	})
	close(stop)
	<-sent
	return connected, mb.Stats().FirstReceived.Sub(t0), ma, mb
}

func TestLoopbackMedia(t *testing.T) {
	p := newLegPair(t, func(c *Config) { c.ReportInterval = 50 * time.Millisecond })
	connected, first, ma, mb := setupTime(t, p)
	t.Logf("setup on loopback: both connected after %v, first decrypted packet after %v", connected, first)

	for _, l := range []*Leg{p.a, p.b} {
		path := l.Path()
		if path.Local != "host" || path.Remote != "host" || path.Network != "udp" {
			t.Errorf("Path() = %+v, want host/host over udp", path)
		}
	}

	// A known sequence both ways, each side on its own SSRC and key
	// (late probes are skipped).
	chA, chB := collect(ma), collect(mb)

	const n = 100
	for i := range n {
		if err := ma.WriteRTP(testPacket(0x1111, uint16(1000+i), []byte(fmt.Sprintf("a→b %d", i)))); err != nil {
			t.Fatalf("a.WriteRTP: %v", err)
		}
		if err := mb.WriteRTP(testPacket(0x2222, uint16(5000+i), []byte(fmt.Sprintf("b→a %d", i)))); err != nil {
			t.Fatalf("b.WriteRTP: %v", err)
		}
	}
	checkStream(t, expectSSRC(t, chB, 0x1111, n, 5*time.Second), 0x1111, "a→b")
	checkStream(t, expectSSRC(t, chA, 0x2222, n, 5*time.Second), 0x2222, "b→a")

	// A packet whose Version field was left at 0 still goes out as RTP.
	v0 := testPacket(0x3333, 1, []byte("a→b 0"))
	v0.Version = 0
	if err := ma.WriteRTP(v0); err != nil {
		t.Fatal(err)
	}
	checkStream(t, expectSSRC(t, chB, 0x3333, 1, 5*time.Second), 0x3333, "a→b")

	// RTCP: both sides send, so both learn the RTT; nothing was lost.
	waitFor(t, 5*time.Second, "RTT from RTCP on both sides", func() error {
		for _, m := range []*Media{ma, mb} {
			if s := m.Stats(); s.RTTSamples == 0 || s.RTCPReceived == 0 {
				return fmt.Errorf("stats %+v", s)
			}
		}
		return nil
	})
	for name, m := range map[string]*Media{"a": ma, "b": mb} {
		s := m.Stats()
		if s.RTT > time.Second || s.PacketsLost != 0 || s.Dropped != (DropStats{}) {
			t.Errorf("%s: stats %+v: want RTT < 1s, no loss, no drops", name, s)
		}
		if s.PacketsReceived == 0 || s.BytesReceived == 0 || s.FirstSent.IsZero() || s.FirstReceived.IsZero() {
			t.Errorf("%s: stats %+v: counters missing", name, s)
		}
	}
}

// probeSSRC is the SSRC setupTime streams on.
const probeSSRC = 0x0b0b

// expectSSRC receives n packets of ssrc from ch within d, skipping others.
func expectSSRC(t *testing.T, ch <-chan *rtp.Packet, ssrc uint32, n int, d time.Duration) []*rtp.Packet {
	t.Helper()
	var got []*rtp.Packet
	deadline := time.Now().Add(d)
	for len(got) < n {
		for _, p := range expect(t, ch, 1, time.Until(deadline)) {
			if p.SSRC == ssrc {
				got = append(got, p)
			}
		}
	}
	return got
}

func checkStream(t *testing.T, got []*rtp.Packet, ssrc uint32, dir string) {
	t.Helper()
	for i, p := range got {
		want := fmt.Sprintf("%s %d", dir, i)
		if p.SSRC != ssrc || string(p.Payload) != want {
			t.Fatalf("%s packet %d: ssrc %#x payload %q, want %#x %q", dir, i, p.SSRC, p.Payload, ssrc, want)
		}
	}
}

// TestDropsCounted injects bad packets on the real socket, from the
// peer's selected candidate so that pion passes them up, and checks that
// each is dropped into the right counter while media keeps flowing.
func TestDropsCounted(t *testing.T) {
	p := newLegPair(t, func(c *Config) { c.ReportInterval = -1 })
	p.start()
	p.waitConnected(10 * time.Second)
	ma, mb := p.startMedia()
	chB := collect(mb)

	good, err := ma.sealRTPForTest(testPacket(0x1111, 1, []byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	// Sealed with b's own sending key: per-direction keys mean b cannot
	// be fed its own packets back (a reflection).
	_, keysB := testKeys(t, 0)
	reflected := sealWith(t, DefaultProfile, Keys{LocalKey: keysB.LocalKey, LocalSalt: keysB.LocalSalt}, testPacket(0x1111, 2, []byte("x")))
	random := make([]byte, 64)
	_, _ = rand.Read(random)
	random[0] = 0x80  // looks like RTP: version 2, no CSRCs, no extension
	random[1] &= 0x3F // payload type below 64: RTP, not RTCP

	steps := []struct {
		name string
		pkt  []byte
		want func(DropStats) uint64
	}{
		{"garbage", []byte("definitely not RTP"), func(d DropStats) uint64 { return d.Garbage }},
		{"truncated header", good[:8], func(d DropStats) uint64 { return d.Truncated }},
		{"truncated tag", good[:20], func(d DropStats) uint64 { return d.Truncated }},
		{"reflected key", reflected, func(d DropStats) uint64 { return d.AuthFailed }},
		{"random RTP-looking", random, func(d DropStats) uint64 { return d.AuthFailed }},
		{"tampered", tamper(good), func(d DropStats) uint64 { return d.AuthFailed }},
		{"original", good, func(DropStats) uint64 { return 0 }},
		{"replayed", good, func(d DropStats) uint64 { return d.Replayed }},
	}
	for _, s := range steps {
		before := mb.Stats()
		if err := p.a.writeRawForTest(s.pkt); err != nil {
			t.Fatalf("%s: write: %v", s.name, err)
		}
		waitFor(t, 5*time.Second, s.name, func() error {
			after := mb.Stats()
			if after.PacketsReceived+sumDrops(after.Dropped) == before.PacketsReceived+sumDrops(before.Dropped)+1 {
				return nil
			}
			return fmt.Errorf("stats %+v", after.Dropped)
		})
		after := mb.Stats()
		if s.name == "original" {
			if after.PacketsReceived != before.PacketsReceived+1 {
				t.Errorf("%s: not received", s.name)
			}
			expect(t, chB, 1, time.Second)
			continue
		}
		if got := s.want(after.Dropped) - s.want(before.Dropped); got != 1 {
			t.Errorf("%s: counter moved by %d, want 1; drops %+v", s.name, got, after.Dropped)
		}
	}

	// A burst of random garbage: every datagram is accounted for, and
	// media sent after it still arrives.
	const junk = 200
	before := mb.Stats()
	for i := range junk {
		b := make([]byte, 1+i%300)
		_, _ = rand.Read(b)
		if err := p.a.writeRawForTest(b); err != nil {
			t.Fatalf("junk write: %v", err)
		}
	}
	for i := range 10 {
		if err := ma.WriteRTP(testPacket(0x1111, uint16(100+i), []byte("after"))); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, chB, 10, 5*time.Second)
	waitFor(t, 5*time.Second, "junk accounted for", func() error {
		after := mb.Stats()
		if d := sumDrops(after.Dropped) - sumDrops(before.Dropped); d != junk {
			return fmt.Errorf("%d of %d junk datagrams counted: %+v", d, junk, after.Dropped)
		}
		return nil
	})
}

func sumDrops(d DropStats) uint64 {
	return d.Garbage + d.Truncated + d.AuthFailed + d.Replayed + d.Malformed + d.RTPQueueFull + d.RTCPQueueFull
}

func tamper(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)-1] ^= 1
	return out
}

// sealWith encrypts p with k's local key and profile in a fresh context.
func sealWith(t testing.TB, profile srtp.ProtectionProfile, k Keys, p *rtp.Packet) []byte {
	t.Helper()
	ctx, err := srtp.CreateContext(k.LocalKey, k.LocalSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ctx.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLossReportedBothWays(t *testing.T) {
	p := newLegPair(t, func(c *Config) { c.ReportInterval = -1 })
	p.start()
	p.waitConnected(10 * time.Second)
	ma, mb := p.startMedia()
	chB := collect(mb)
	// Sequence numbers 1..20 with 5 and 6 missing: two lost.
	sent := 0
	for seq := uint16(1); seq <= 20; seq++ {
		if seq == 5 || seq == 6 {
			continue
		}
		if err := ma.WriteRTP(testPacket(0x1111, seq, []byte("tone"))); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	expect(t, chB, sent, 5*time.Second)
	if s := mb.Stats(); s.PacketsLost != 2 {
		t.Errorf("receiver PacketsLost = %d, want 2", s.PacketsLost)
	}
	// a's SR, then b's RR about a's SSRC carrying LSR/DLSR.
	if err := ma.SendReport(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b got a's SR", func() error {
		if mb.Stats().RTCPReceived == 0 {
			return errors.New("no RTCP yet")
		}
		return nil
	})
	if err := mb.SendReport(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a learns loss and RTT", func() error {
		s := ma.Stats()
		if s.RTTSamples == 0 || s.RemotePacketsLost != 2 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	s := ma.Stats()
	if want := 2.0 / 20; s.RemoteFractionLost < want-0.01 || s.RemoteFractionLost > want+0.01 {
		t.Errorf("RemoteFractionLost = %v, want about %v", s.RemoteFractionLost, want)
	}
	if s.RTT > time.Second {
		t.Errorf("RTT = %v on loopback", s.RTT)
	}
}

func TestMediaClose(t *testing.T) {
	p := newLegPair(t, func(c *Config) { c.ReportInterval = -1 })
	p.start()
	p.waitConnected(10 * time.Second)
	ma, mb := p.startMedia()
	readErr := make(chan error, 1)
	go func() {
		_, err := mb.ReadRTP()
		readErr <- err
	}()
	if err := p.b.Close(); err != nil {
		t.Fatal(err)
	}
	if path := p.b.Path(); path != (Path{}) {
		t.Errorf("Path() after Close = %+v, want zero", path)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("ReadRTP after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadRTP still blocked after Close")
	}
	if _, err := mb.ReadRTCP(); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadRTCP after Close: %v, want ErrClosed", err)
	}
	if err := mb.WriteRTP(testPacket(1, 1, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close: %v, want ErrClosed", err)
	}
	if err := ma.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ma.WriteRTP(testPacket(1, 1, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Media.Close: %v, want ErrClosed", err)
	}
}

func TestStartMediaErrors(t *testing.T) {
	ka, _ := testKeys(t, 0)
	short := ka
	short.LocalKey = ka.LocalKey[:8]
	shortSalt := ka
	shortSalt.RemoteSalt = ka.RemoteSalt[:4]
	same := ka
	same.RemoteKey = bytes.Clone(ka.LocalKey)
	tests := []struct {
		name    string
		keys    Keys
		profile srtp.ProtectionProfile
		want    error
	}{
		{"short key", short, 0, ErrBadKeys},
		{"short salt", shortSalt, 0, ErrBadKeys},
		{"same key both ways", same, 0, ErrBadKeys},
		{"null cipher", ka, srtp.ProtectionProfileNullHmacSha1_80, ErrUnsupportedProfile},
		{"32-bit tag", ka, srtp.ProtectionProfileAes128CmHmacSha1_32, ErrUnsupportedProfile},
		{"unknown", ka, 0x99, ErrUnsupportedProfile},
		{"AES-CM salt length", ka, srtp.ProtectionProfileAes128CmHmacSha1_80, ErrBadKeys},
	}
	l, err := NewLeg(Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.StartMedia(ka, 0); !errors.Is(err, ErrNotStarted) {
		t.Errorf("before Start: %v, want ErrNotStarted", err)
	}
	u, pw := NewCredentials()
	if err := l.Start(t.Context(), u, pw); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.StartMedia(tt.keys, tt.profile); !errors.Is(err, tt.want) {
				t.Errorf("StartMedia: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := l.StartMedia(ka, 0); err != nil {
		t.Fatalf("StartMedia: %v", err)
	}
	if _, err := l.StartMedia(ka, 0); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second StartMedia: %v, want ErrAlreadyStarted", err)
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	ka, _ := testKeys(t, 0)
	for _, s := range []string{fmt.Sprint(ka), fmt.Sprintf("%v %+v %#v", ka, ka, ka)} {
		if bytes.Contains([]byte(s), []byte{0xA1}) || !bytes.Contains([]byte(s), []byte("redacted")) {
			t.Errorf("Keys printed as %q", s)
		}
	}
}
