package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func marshalRTP(t testing.TB, p *rtp.Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtpPacket(seq uint16, ts, ssrc uint32, pt uint8, payload []byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
}

func listen(t *testing.T, c Codec) (*UDPSource, *net.UDPConn) {
	t.Helper()
	src, err := ListenUDP("127.0.0.1:0", c, UDPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	tx, err := net.DialUDP("udp", nil, src.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return src, tx
}

func TestListenRTPFilters(t *testing.T) {
	src, tx := listen(t, Opus)
	if src.Codec() != Opus {
		t.Errorf("Codec() = %v", src.Codec())
	}
	oversized := marshalRTP(t, rtpPacket(1, 1, 1, 96, bytes.Repeat([]byte{7}, 1600)))
	v1 := marshalRTP(t, rtpPacket(1, 1, 1, 96, []byte{1}))
	v1[0] = v1[0]&0x3f | 0x40
	rtcp := marshalRTP(t, rtpPacket(1, 1, 1, 96, []byte{1, 2, 3, 4}))
	rtcp[1] = 200 // sender report: marker + PT 72
	withPadding := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: 4, PayloadType: 96, SequenceNumber: 106, SSRC: 5, CSRC: []uint32{9}}, Payload: []byte("ffff")}

	valid := [][]byte{[]byte("aaaa"), []byte("bbbb"), []byte("cccc"), []byte("dddd"), []byte("ffff")}
	sends := [][]byte{
		marshalRTP(t, rtpPacket(100, 1000, 5, 96, valid[0])),
		[]byte("hello, not RTP"),
		marshalRTP(t, rtpPacket(101, 1960, 5, 96, valid[1])),
		{0x80},
		v1,
		oversized,
		rtcp,
		marshalRTP(t, rtpPacket(102, 2920, 5, 96, nil)), // empty payload
		marshalRTP(t, rtpPacket(103, 3880, 5, 96, valid[2])),
		marshalRTP(t, rtpPacket(105, 5800, 5, 96, valid[3])), // 104 lost
		marshalRTP(t, withPadding),
	}
	for _, b := range sends {
		if _, err := tx.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []*rtp.Packet
	for range valid {
		p, err := src.ReadRTP(ctx)
		if err != nil {
			t.Fatalf("ReadRTP after %d packets: %v", len(got), err)
		}
		got = append(got, p)
	}
	for i, p := range got {
		if !bytes.Equal(p.Payload, valid[i]) {
			t.Errorf("packet %d: payload %q, want %q", i, p.Payload, valid[i])
		}
		if p.PayloadType != Opus.PayloadType || p.Version != 2 || len(p.CSRC) != 0 || p.Padding || p.Extension {
			t.Errorf("packet %d: header %+v", i, p.Header)
		}
	}
	// Numbering is dense whatever the sender's gaps; timestamps keep
	// their distance to the first packet.
	wantSeq := []uint16{0, 1, 2, 3, 4}
	wantTS := []uint32{0, 960, 2880, 4800}
	for i, p := range got {
		if d := p.SequenceNumber - got[0].SequenceNumber; d != wantSeq[i] {
			t.Errorf("packet %d: sequence offset %d, want %d", i, d, wantSeq[i])
		}
		if i < len(wantTS) {
			if d := p.Timestamp - got[0].Timestamp; d != wantTS[i] {
				t.Errorf("packet %d: timestamp offset %d, want %d", i, d, wantTS[i])
			}
		}
	}
	if st := src.Stats(); st != (UDPStats{Packets: 5, Garbage: 5, Oversized: 1}) {
		t.Errorf("Stats = %+v, want 5 packets, 5 garbage, 1 oversized", st)
	}
}

func TestListenRTPNewSender(t *testing.T) {
	src, tx := listen(t, VP8)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	send := func(seq uint16, ts, ssrc uint32) *rtp.Packet {
		t.Helper()
		if _, err := tx.Write(marshalRTP(t, rtpPacket(seq, ts, ssrc, 100, []byte{1}))); err != nil {
			t.Fatal(err)
		}
		p, err := src.ReadRTP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := send(500, 90000, 1)
	b := send(501, 93000, 1)
	c := send(7, 12, 2) // ffmpeg restarted: new SSRC, new numbering
	if b.SequenceNumber != a.SequenceNumber+1 || c.SequenceNumber != b.SequenceNumber+1 {
		t.Errorf("sequence numbers %d, %d, %d are not consecutive", a.SequenceNumber, b.SequenceNumber, c.SequenceNumber)
	}
	if d := c.Timestamp - b.Timestamp; d > 90000 || int32(d) < 0 {
		t.Errorf("timestamp jumped by %d across the sender change", int32(d))
	}
	if c.PayloadType != VP8.PayloadType {
		t.Errorf("payload type %d", c.PayloadType)
	}
}

func TestListenRTPCancelAndClose(t *testing.T) {
	src, tx := listen(t, Opus)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.ReadRTP(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadRTP with expiring context = %v", err)
	}
	// The interrupted read leaves the socket usable.
	if _, err := tx.Write(marshalRTP(t, rtpPacket(1, 1, 1, 96, []byte{1}))); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := src.ReadRTP(ctx2); err != nil {
		t.Fatalf("ReadRTP after a cancelled read = %v", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := src.ReadRTP(context.Background())
		done <- err
	}()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("ReadRTP after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadRTP")
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:5004", "[::]:0"} {
		if _, err := ListenRTP(addr, Opus); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("ListenRTP(%q) = %v, want ErrNotLoopback", addr, err)
		}
		if _, err := NewUDPSink(addr); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NewUDPSink(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.1.2.3:0"} {
		src, err := ListenRTP(addr, Opus)
		if err != nil {
			t.Errorf("ListenRTP(%q) = %v", addr, err)
			continue
		}
		src.Close()
	}
	src, err := ListenUDP("0.0.0.0:0", Opus, UDPOptions{AllowNonLoopback: true})
	if err != nil {
		t.Fatalf("ListenUDP allowing non-loopback = %v", err)
	}
	src.Close()
}

func TestUDPSink(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	sink, err := NewUDPSink(rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	want := rtpPacket(9, 99, 999, 111, []byte("opus bytes"))
	want.Marker = true
	if err := sink.WriteRTP(want); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	n, err := rx.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], marshalRTP(t, want)) {
		t.Errorf("forwarded % x, want % x", buf[:n], marshalRTP(t, want))
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteRTP(want); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close = %v, want ErrClosed", err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestUDPSinkNobodyListening(t *testing.T) {
	// Find a free port, then close it so nothing listens there.
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	sink, err := NewUDPSinkWith(addr, UDPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for i := range 20 {
		if err := sink.WriteRTP(rtpPacket(uint16(i), 0, 0, 0, []byte{1})); err != nil {
			t.Fatalf("write %d to a closed port = %v, want nil (dropped)", i, err)
		}
	}
	// Linux reports the ICMP port unreachable on the next write at once.
	if runtime.GOOS == "linux" && sink.Dropped() == 0 {
		t.Error("no datagram counted as dropped")
	}
}

// TestToneOverUDP runs a tone through a UDP sink into a UDP source and a
// Counter, as ffmpeg-style plumbing would.
func TestToneOverUDP(t *testing.T) {
	src, err := ListenUDP("127.0.0.1:0", PCMU, UDPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fwd, err := ParseSink("rtp://"+src.Addr().String(), PCMU)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	tone, err := NewTone(1000, ToneOptions{Duration: time.Second, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := NewCounter(PCMU)
	for {
		p, err := tone.ReadRTP(ctx)
		if err != nil {
			break
		}
		if err := fwd.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
		q, err := src.ReadRTP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.WriteRTP(q)
	}
	if st := c.Stats(); st.Packets != 50 || st.Lost != 0 || st.Reordered != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if f, ok := c.DetectTone(toneCandidates); !ok || f != 1000 {
		t.Errorf("DetectTone = %v, %v; want 1000, true", f, ok)
	}
}
