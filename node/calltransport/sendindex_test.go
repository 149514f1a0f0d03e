package calltransport

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// captureConn is a packetConn that keeps what is written.
type captureConn struct {
	mu  sync.Mutex
	out [][]byte
}

func (c *captureConn) Read([]byte) (int, error)        { return 0, errors.New("captureConn: no reads") }
func (c *captureConn) SetReadDeadline(time.Time) error { return nil }
func (c *captureConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, bytes.Clone(b))
	return len(b), nil
}

// take returns and forgets what was written since the last call.
func (c *captureConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = nil
	return out
}

// sendingMedia is an unstarted Media of profile whose writes are captured,
// with its peer (which opens what it seals) and an index oracle.
func sendingMedia(t testing.TB, profile srtp.ProtectionProfile) (*Media, *Media, *captureConn, *indexOracle) {
	t.Helper()
	a, b := mediaPair(t, profile)
	c := &captureConn{}
	a.conn = c
	ka, _ := testKeys(t, profile)
	return a, b, c, newIndexOracle(t, ka, profile)
}

// indexOracle tells, by trial decryption, which SRTP index a packet was
// really sealed under: only the right rollover counter authenticates. It
// does not trust sendIndex's bookkeeping.
type indexOracle struct {
	dec    *srtp.Context
	maxROC map[uint32]uint32
	seen   map[[2]uint64]int // (SSRC, index) → packet number
	n      int
}

func newIndexOracle(t testing.TB, k Keys, profile srtp.ProtectionProfile) *indexOracle {
	t.Helper()
	if profile == 0 {
		profile = DefaultProfile
	}
	dec, err := srtp.CreateContext(k.LocalKey, k.LocalSalt, profile) // no replay protection
	if err != nil {
		t.Fatal(err)
	}
	return &indexOracle{dec: dec, maxROC: map[uint32]uint32{}, seen: map[[2]uint64]int{}}
}

// index finds the index pkt was sealed under, trying every rollover
// counter from one above the highest seen on its SSRC down to 0 (the
// highest and the one above it first: they are the usual answers).
func (o *indexOracle) index(t testing.TB, pkt []byte) (ssrc uint32, idx uint64) {
	t.Helper()
	var h rtp.Header
	if _, err := h.Unmarshal(pkt); err != nil {
		t.Fatalf("sent packet has no RTP header: %v", err)
	}
	top := int64(o.maxROC[h.SSRC])
	try := func(roc int64) bool {
		o.dec.SetROC(h.SSRC, uint32(roc))
		_, err := o.dec.DecryptRTP(nil, pkt, nil)
		return err == nil
	}
	for _, roc := range append([]int64{top, top + 1}, countDown(top-1)...) {
		if try(roc) {
			o.maxROC[h.SSRC] = max(o.maxROC[h.SSRC], uint32(roc))
			return h.SSRC, uint64(roc)<<16 | uint64(h.SequenceNumber)
		}
	}
	t.Fatalf("SSRC %08x seq %d: no rollover counter in 0..%d opens the packet", h.SSRC, h.SequenceNumber, top+1)
	return 0, 0
}

// countDown returns n, n-1, ..., 0.
func countDown(n int64) []int64 {
	var out []int64
	for ; n >= 0; n-- {
		out = append(out, n)
	}
	return out
}

// record notes the index of pkt, fails if it was used before, and
// returns it.
func (o *indexOracle) record(t testing.TB, pkt []byte) (ssrc uint32, idx uint64) {
	t.Helper()
	o.n++
	ssrc, idx = o.index(t, pkt)
	key := [2]uint64{uint64(ssrc), idx}
	if first, dup := o.seen[key]; dup {
		t.Errorf("SSRC %08x index %#x encrypted twice (packets %d and %d): nonce reused", ssrc, idx, first, o.n)
	}
	o.seen[key] = o.n
	return ssrc, idx
}

// TestWriteRTPRefusesStaleIndex: a repeated or older sequence number on an
// SSRC is not encrypted (it would reuse an index, so a nonce); the stream
// goes on, and the peer opens everything that was sent.
func TestWriteRTPRefusesStaleIndex(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		t.Run(profile.String(), func(t *testing.T) {
			a, b, c, o := sendingMedia(t, profile)
			writes := []struct {
				ssrc  uint32
				seq   uint16
				stale bool
			}{
				{0x1111, 5, false},
				{0x1111, 6, false},
				{0x1111, 6, true},  // duplicate: pion would reuse index 6
				{0x1111, 4, true},  // older
				{0x2222, 6, false}, // another SSRC has its own indexes
				{0x1111, 7, false},
				{0x1111, 5, true}, // restarted sender, lower numbers
				{0x1111, 8, false},
			}
			sent := 0
			for i, w := range writes {
				err := a.WriteRTP(testPacket(w.ssrc, w.seq, fmt.Appendf(nil, "packet %d", i)))
				for _, pkt := range c.take() {
					o.record(t, pkt)
					b.handlePacket(pkt, time.Now())
					sent++
				}
				switch {
				case w.stale && !errors.Is(err, ErrStaleIndex):
					t.Errorf("write %d (SSRC %04x seq %d): %v, want ErrStaleIndex", i, w.ssrc, w.seq, err)
				case !w.stale && err != nil:
					t.Errorf("write %d (SSRC %04x seq %d): %v", i, w.ssrc, w.seq, err)
				}
			}
			if got := sendRefusedForTest(a); got != 3 {
				t.Errorf("SendRefused = %d, want 3", got)
			}
			if s := b.Stats(); s.PacketsReceived != uint64(sent) || sent != 5 {
				t.Errorf("sent %d, peer opened %d; want 5 and 5 (drops %+v)", sent, s.PacketsReceived, s.Dropped)
			}
		})
	}
}

// TestWriteRTPAcrossRollover: sequence numbers wrapping past 65535 go on
// with the next rollover counter, in steps of one and in jumps just under
// half the sequence space, and the peer opens every packet.
func TestWriteRTPAcrossRollover(t *testing.T) {
	a, b, c, o := sendingMedia(t, 0)
	want := uint64(65530)
	for i := range 40 {
		step := uint64(1)
		if i >= 20 {
			step = 1<<15 - 1
		}
		want += step
		if err := a.WriteRTP(testPacket(1, uint16(want), []byte("x"))); err != nil {
			t.Fatalf("index %#x: %v", want, err)
		}
		for _, pkt := range c.take() {
			if _, idx := o.index(t, pkt); idx != want {
				t.Fatalf("sealed under index %#x, want %#x", idx, want)
			}
			b.handlePacket(pkt, time.Now())
		}
	}
	if s := b.Stats(); s.PacketsReceived != 40 || s.Dropped != (DropStats{}) {
		t.Fatalf("peer: %d received, drops %+v", s.PacketsReceived, s.Dropped)
	}
	if want>>16 < 10 {
		t.Fatalf("only reached rollover counter %d", want>>16)
	}
}

// FuzzSRTPSendIndex drives WriteRTP with random sequence numbers, SSRC
// changes and sender restarts, and checks with the index oracle that no
// (SSRC, index) is ever encrypted twice, that every index sent is above
// the previous one of its SSRC, and that every refusal is counted.
//
// Input: 3 bytes per packet, op and a 16-bit value: op%4 == 0 the next
// sequence number, 1 jump to the value (a restart or a gap), 2 switch to
// one of three SSRCs, 3 go back by value%64 (late or duplicate).
func FuzzSRTPSendIndex(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0})                // next, next, back 1 (duplicate), next
	f.Add([]byte{1, 0xff, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 3}) // across the wrap, then back
	f.Add([]byte{2, 0, 1, 1, 0x80, 0, 2, 0, 0, 0, 0, 0, 1, 0, 5})    // SSRC changes and restarts
	f.Add([]byte{1, 0x80, 0x01, 1, 0x00, 0x01, 1, 0x80, 0x00})       // half-range jumps
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*256 {
			ops = ops[:3*256]
		}
		a, _, c, o := sendingMedia(t, 0)
		ssrcs := [3]uint32{0x1111, 0x2222, 0x3333}
		ssrc, seq := ssrcs[0], uint16(1000)
		last := map[uint32]uint64{}
		refused := uint64(0)
		for i := 0; i+3 <= len(ops); i += 3 {
			v := uint16(ops[i+1])<<8 | uint16(ops[i+2])
			switch ops[i] % 4 {
			case 0:
				seq++
			case 1:
				seq = v
			case 2:
				ssrc = ssrcs[v%3]
			case 3:
				seq -= v % 64
			}
			err := a.WriteRTP(testPacket(ssrc, seq, []byte{byte(i)}))
			out := c.take()
			switch {
			case err == nil && len(out) == 1:
				s, idx := o.record(t, out[0])
				if prev, ok := last[s]; ok && idx <= prev {
					t.Fatalf("SSRC %08x: index %#x sent after %#x", s, idx, prev)
				}
				last[s] = idx
			case errors.Is(err, ErrStaleIndex) && len(out) == 0:
				refused++
			default:
				t.Fatalf("write SSRC %08x seq %d: err %v, %d packets sent", ssrc, seq, err, len(out))
			}
		}
		if got := sendRefusedForTest(a); got != refused {
			t.Fatalf("SendRefused = %d, want %d", got, refused)
		}
	})
}
