package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// sendAll writes packets (seq, ssrc, payload = "seq/ssrc") from tx.
func sendAll(t *testing.T, tx *net.UDPConn, ssrc uint32, seqs ...uint16) {
	t.Helper()
	for _, seq := range seqs {
		if _, err := tx.Write(marshalRTP(t, rtpPacket(seq, uint32(seq)*960, ssrc, 96, fmt.Appendf(nil, "%d/%d", seq, ssrc)))); err != nil {
			t.Fatal(err)
		}
	}
}

// readN reads n packets from src.
func readN(t *testing.T, src *UDPSource, n int) []*rtp.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []*rtp.Packet
	for range n {
		p, err := src.ReadRTP(ctx)
		if err != nil {
			t.Fatalf("ReadRTP after %d packets: %v", len(got), err)
		}
		got = append(got, p)
	}
	return got
}

// checkDense fails unless got carries the payloads want, numbered one
// after the other.
func checkDense(t *testing.T, got []*rtp.Packet, want ...string) {
	t.Helper()
	for i, p := range got {
		if i < len(want) && string(p.Payload) != want[i] {
			t.Errorf("packet %d: payload %q, want %q", i, p.Payload, want[i])
		}
		if i > 0 && p.SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: sequence number %d after %d, want the next one", i, p.SequenceNumber, got[i-1].SequenceNumber)
		}
	}
}

// TestListenRTPDropsLateAndDuplicates: a duplicate or older packet of the
// sender is dropped, not passed on under a sequence number (so an SRTP
// index, so a nonce) already used.
func TestListenRTPDropsLateAndDuplicates(t *testing.T) {
	src, tx := listen(t, Opus)
	sendAll(t, tx, 7, 10, 11, 11, 9, 12)
	checkDense(t, readN(t, src, 3), "10/7", "11/7", "12/7")
	if n := lateForTest(src); n != 2 {
		t.Errorf("late = %d, want 2", n)
	}
}

// TestListenRTPDenseNumbering: the sender's gaps are not kept.
func TestListenRTPDenseNumbering(t *testing.T) {
	src, tx := listen(t, Opus)
	sendAll(t, tx, 7, 100, 105, 200)
	checkDense(t, readN(t, src, 3), "100/7", "105/7", "200/7")
}

// TestListenRTPSenderRestartSameSSRC: ffmpeg restarted with a fixed SSRC
// and source port starts again at low numbers; after one dropped packet
// the source follows it, and its own numbering never goes back.
func TestListenRTPSenderRestartSameSSRC(t *testing.T) {
	src, tx := listen(t, Opus)
	sendAll(t, tx, 7, 5000, 5001, 10, 11, 12)
	got := readN(t, src, 4)
	checkDense(t, got, "5000/7", "5001/7", "11/7", "12/7")
	if d := got[2].Timestamp - got[1].Timestamp; int32(d) < 0 || d > 48000 {
		t.Errorf("timestamp moved by %d across the restart", int32(d))
	}
}

// TestListenRTPOneSender: once a sender is heard, datagrams from any
// other local address are dropped.
func TestListenRTPOneSender(t *testing.T) {
	src, tx := listen(t, Opus)
	other, err := net.DialUDP("udp", nil, src.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sendAll(t, tx, 7, 1)
	checkDense(t, readN(t, src, 1), "1/7")
	sendAll(t, other, 7, 50, 51) // same SSRC, numbers ahead: an injection
	sendAll(t, tx, 7, 2)
	checkDense(t, readN(t, src, 1), "2/7")
	if n := foreignForTest(src); n != 2 {
		t.Errorf("foreign = %d, want 2", n)
	}
}

// TestListenRTPFrom: with a configured sender, an earlier other sender is
// not taken for it.
func TestListenRTPFrom(t *testing.T) {
	want, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	src, err := ListenUDP("127.0.0.1:0", Opus, UDPOptions{From: want.LocalAddr().(*net.UDPAddr).AddrPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	first, err := net.DialUDP("udp", nil, src.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	sendAll(t, first, 7, 1)
	if _, err := want.WriteToUDP(marshalRTP(t, rtpPacket(2, 0, 8, 96, []byte("2/8"))), src.Addr()); err != nil {
		t.Fatal(err)
	}
	checkDense(t, readN(t, src, 1), "2/8")
	if st := src.Stats(); st.Foreign != 1 || st.Packets != 1 {
		t.Errorf("Stats = %+v, want 1 foreign, 1 packet", st)
	}
	if _, err := ListenUDP("127.0.0.1:0", Opus, UDPOptions{From: netip.MustParseAddrPort("127.0.0.1:0")}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("From without a port: %v, want ErrBadSpec", err)
	}
}

// FuzzUDPRenumber feeds renumber random sender numbering (SSRC changes,
// restarts, duplicates, reordering) and checks that what it passes on is
// numbered one after the other, so no sequence number is ever passed on
// twice.
//
// Input: 3 bytes per packet: SSRC (of 4) and a 16-bit sequence number.
func FuzzUDPRenumber(f *testing.F) {
	f.Add([]byte{0, 0, 10, 0, 0, 11, 0, 0, 11, 0, 0, 9, 0, 0, 12})
	f.Add([]byte{0, 0x13, 0x88, 0, 0x13, 0x89, 0, 0, 10, 0, 0, 11, 1, 0, 11})
	f.Add([]byte{0, 0xff, 0xfe, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &UDPSource{codec: Opus}
		now := time.Unix(1e9, 0)
		var prev uint16
		passed := 0
		for i := 0; i+3 <= len(in); i += 3 {
			p := rtpPacket(uint16(in[i+1])<<8|uint16(in[i+2]), uint32(i)*960, uint32(in[i]%4), 96, []byte{1})
			now = now.Add(20 * time.Millisecond)
			if !s.renumber(p, now) {
				continue
			}
			if passed > 0 && p.SequenceNumber != prev+1 {
				t.Fatalf("packet %d: sequence number %d after %d", i/3, p.SequenceNumber, prev)
			}
			if p.SSRC != 0 || p.PayloadType != Opus.PayloadType {
				t.Fatalf("header %+v", p.Header)
			}
			prev = p.SequenceNumber
			passed++
		}
	})
}
