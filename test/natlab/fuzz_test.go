package natlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzParsePacket: the capture decoder never panics, fails only with
// ErrMalformed, and a decoded TCP or UDP packet re-encodes to one that
// decodes the same.
func FuzzParsePacket(f *testing.F) {
	f.Add(buildPacket(Packet{Src: cli, Dst: srv, Proto: protoUDP, Payload: []byte("hi")}))
	f.Add(buildPacket(Packet{Src: srv, Dst: cli, Proto: protoTCP, Seq: 1, Flags: tcpSYN | 0x10}))
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x20, 0x10, 64, 17, 0, 0, 5, 0, 0, 1, 5, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if (p.Proto != protoTCP && p.Proto != protoUDP) || p.Src.Port() == 0 && p.Dst.Port() == 0 {
			return // no transport header, or a fragment
		}
		again, err := ParsePacket(buildPacket(p))
		if err != nil {
			t.Fatalf("re-encoded packet: %v", err)
		}
		if again.Src != p.Src || again.Dst != p.Dst || again.Seq != p.Seq || again.Flags != p.Flags || !bytes.Equal(again.Payload, p.Payload) {
			t.Fatalf("round trip: %+v → %+v", p, again)
		}
	})
}

// FuzzParseNetlink: netlink datagrams never panic the delay line's decoder,
// and a queued packet it decodes survives a round trip through the
// encoder.
func FuzzParseNetlink(f *testing.F) {
	hdr := make([]byte, 7)
	binary.BigEndian.PutUint32(hdr, 42)
	f.Add(nfqMessage(nfqnlMsgPacket, 0, 1, 2, nlattr(nfqaPacketHdr, hdr)))
	f.Add(verdictMessage(1, 7))
	f.Add([]byte{16, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := parseNetlink(b)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		for _, m := range msgs {
			p, err := parseQueuedPacket(m.Payload)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v is not ErrMalformed", err)
				}
				continue
			}
			var h [7]byte
			binary.BigEndian.PutUint32(h[:], p.ID)
			again, err := parseNetlink(nfqMessage(nfqnlMsgPacket, 0, 0, p.Queue, nlattr(nfqaPacketHdr, h[:])))
			if err != nil || len(again) != 1 {
				t.Fatalf("re-encoded: %v", err)
			}
			if q, err := parseQueuedPacket(again[0].Payload); err != nil || q != p {
				t.Fatalf("round trip %+v → %+v, %v", p, q, err)
			}
		}
	})
}

// FuzzCheckSecureChannel: arbitrary captured streams never panic the
// libp2p framing check, errors are ErrCleartext, and what it accepts is
// consistent (a security protocol whenever bytes followed the
// negotiation).
func FuzzCheckSecureChannel(f *testing.F) {
	f.Add(append(append(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0")...), tlsRecord(23, make([]byte, 20))...))
	f.Add(append(append(msMsg("/multistream/1.0.0"), msMsg("/noise")...), noiseFrame(make([]byte, 32))...))
	f.Add([]byte("\x13/multistream/1.0.0\n\x13/parley/call/1.0.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := CheckSecureChannel(b)
		if err != nil {
			if !errors.Is(err, ErrCleartext) {
				t.Fatalf("error %v is not ErrCleartext", err)
			}
			return
		}
		if sc.Records > 0 && sc.Security == "" {
			t.Fatalf("records without a security protocol: %+v", sc)
		}
		if sc.Encrypted > len(b) {
			t.Fatalf("%d encrypted bytes in %d", sc.Encrypted, len(b))
		}
	})
}

// FuzzReassemble: segments cut from arbitrary bytes at arbitrary sequence
// numbers never panic reassembly, and a stream without a gap is never
// longer than the bytes sent.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte("hello world"), uint32(100), uint8(3), true)
	f.Add([]byte("abcdefgh"), uint32(0xfffffffd), uint8(1), false)
	f.Fuzz(func(t *testing.T, data []byte, isn uint32, step uint8, syn bool) {
		var pkts []Packet
		if syn {
			pkts = append(pkts, seg(isn-1, tcpSYN, ""))
		}
		n := int(step%16) + 1
		for off := 0; off < len(data); off += n {
			end := min(off+n, len(data))
			pkts = append(pkts, seg(isn+uint32(off), 0, string(data[off:end])))
			if off%3 == 0 { // a retransmission
				pkts = append(pkts, seg(isn+uint32(off), 0, string(data[off:end])))
			}
		}
		// Reverse to exercise the sort.
		for i, j := 0, len(pkts)-1; i < j; i, j = i+1, j-1 {
			pkts[i], pkts[j] = pkts[j], pkts[i]
		}
		for _, s := range Reassemble(pkts) {
			if len(s.Data) > len(data) {
				t.Fatalf("%d bytes from %d", len(s.Data), len(data))
			}
			if syn && !s.Gap && !bytes.Equal(s.Data, data) {
				t.Fatalf("stream %q, sent %q", s.Data, data)
			}
		}
	})
}
