package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// FuzzListenRTPPacket fuzzes the validation of datagrams arriving on a
// ListenRTP port. An accepted packet must satisfy the documented rules and
// survive marshal → parse unchanged.
func FuzzListenRTPPacket(f *testing.F) {
	f.Add(marshalRTP(f, rtpPacket(1, 2, 3, 111, []byte("opus"))))
	f.Add(marshalRTP(f, &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: 3, Marker: true, PayloadType: 96, CSRC: []uint32{1, 2}}, Payload: []byte{9}}))
	ext := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}, Payload: []byte{1, 2}}
	_ = ext.SetExtension(1, []byte{0xAA})
	f.Add(marshalRTP(f, ext))
	f.Add([]byte{0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseRTPPacket(b)
		if err != nil {
			if !errors.Is(err, ErrBadRTP) && !errors.Is(err, ErrOversized) {
				t.Fatalf("error %v wraps neither ErrBadRTP nor ErrOversized", err)
			}
			return
		}
		if len(b) > MaxPacketSize || p.Version != 2 || len(p.Payload) == 0 || (p.PayloadType >= 64 && p.PayloadType <= 95) {
			t.Fatalf("accepted a bad packet: %+v", p.Header)
		}
		if len(p.CSRC) != 0 || p.Extension || p.Padding {
			t.Fatalf("CSRC, extension or padding kept: %+v", p.Header)
		}
		if len(b) > 0 {
			b[len(b)-1] ^= 0xFF // the packet must not alias the datagram
		}
		payload := bytes.Clone(p.Payload)
		m, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseRTPPacket(m)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if q.Marker != p.Marker || q.PayloadType != p.PayloadType || q.SequenceNumber != p.SequenceNumber ||
			q.Timestamp != p.Timestamp || q.SSRC != p.SSRC || !bytes.Equal(q.Payload, payload) {
			t.Fatalf("round trip changed the packet: %+v vs %+v", p.Header, q.Header)
		}
	})
}

// FuzzOggDemux fuzzes the Ogg/Opus demuxer. Packets read out are muxed
// again (one page each) and must read back identical.
func FuzzOggDemux(f *testing.F) {
	file, _, _ := muxedOgg()
	f.Add(file)
	var m oggMux
	m.packets(1, oggFlagBOS, 0, opusHead())
	m.packets(1, 0, 0, opusTags())
	m.packets(1, oggFlagEOS, 960, opusPacket(0xF8, 10, 1))
	f.Add(m.buf.Bytes())
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := demuxAll(t, b)
		if got == nil {
			return
		}
		var m oggMux
		m.packets(7, oggFlagBOS, 0, opusHead())
		m.packets(7, 0, 0, opusTags())
		granule := uint64(0)
		for _, p := range got {
			granule += uint64(p.dur)
			m.packets(7, 0, granule, p.data)
		}
		again := demuxAll(t, m.buf.Bytes())
		if len(again) != len(got) {
			t.Fatalf("re-muxed stream has %d packets, want %d", len(again), len(got))
		}
		for i := range got {
			if !bytes.Equal(again[i].data, got[i].data) || again[i].dur != got[i].dur {
				t.Fatalf("packet %d changed in the round trip", i)
			}
			if i > 0 && again[i].pts-again[i-1].pts != again[i-1].dur {
				t.Fatalf("packet %d: pts %d after %d+%d", i, again[i].pts, again[i-1].pts, again[i-1].dur)
			}
		}
	})
}

// demuxAll returns the packets of an Ogg stream, or nil if it has no Opus
// stream or is malformed before the first packet.
func demuxAll(t *testing.T, b []byte) []frame {
	d := newOggDemuxer(bytes.NewReader(b))
	if err := d.readHead(); err != nil {
		if !errors.Is(err, ErrBadOgg) {
			t.Fatalf("readHead: %v does not wrap ErrBadOgg", err)
		}
		return nil
	}
	var out []frame
	for {
		fr, err := d.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			if !errors.Is(err, ErrBadOgg) {
				t.Fatalf("next: %v does not wrap ErrBadOgg", err)
			}
			return out
		}
		if len(fr.data) == 0 || len(fr.data) > MaxOggPacketSize || fr.dur <= 0 || fr.dur > 5760 {
			t.Fatalf("bad packet: %d bytes, duration %d", len(fr.data), fr.dur)
		}
		out = append(out, fr)
	}
}

// FuzzIVFReader fuzzes the IVF frame reader (pion's ivfreader behind the
// package's size and timestamp checks) and the packetization of what it
// reads.
func FuzzIVFReader(f *testing.F) {
	f.Add(ivfBytes("VP80", 30, 1, []ivfFrame{{vp8Frames()[0], 0}, {[]byte{1, 2}, 1}}))
	f.Add(ivfBytes("AV01", 1000, 1, []ivfFrame{{av1Frames()[1], 40}}))
	f.Add(ivfBytes("VP90", 90000, 1, []ivfFrame{{[]byte{0x82, 0x49, 0x83, 0x42, 0x00}, 3000}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &ivfFile{rs: bytes.NewReader(b)}
		if err := r.rewind(); err != nil {
			return
		}
		pay := payloaderFor(r.codec)
		for range 64 {
			fr, err := r.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrBadIVF) {
					t.Fatalf("next: %v", err)
				}
				break
			}
			if len(fr.data) > MaxIVFFrameSize || fr.pts < 0 {
				t.Fatalf("frame of %d bytes at pts %d", len(fr.data), fr.pts)
			}
			for _, p := range pay.Payload(MaxPayloadSize, fr.data) {
				if len(p) > MaxPayloadSize {
					t.Fatalf("payload of %d bytes", len(p))
				}
			}
		}
	})
}

// FuzzIVFSink fuzzes the receive path of video: a sequence of RTP packets
// from the far end (each as a uint16 length and the packet's bytes) goes
// through the reorder buffer, depacketizer and IVF writer. The output must
// be an IVF file that pion's reader accepts, with as many frames as the
// header says.
func FuzzIVFSink(f *testing.F) {
	var seed bytes.Buffer
	src, err := OpenIVFWith(writeFile(f, "seed.ivf", ivfBytes("VP80", 30, 1, []ivfFrame{{vp8Frames()[0], 0}, {vp8Frames()[2], 1}})), FileOptions{NoPacing: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range readAll(f, src, 100) {
		b := marshalRTP(f, p)
		_ = binary.Write(&seed, binary.BigEndian, uint16(len(b)))
		seed.Write(b)
	}
	src.Close()
	for _, c := range []byte{0, 1, 2} {
		f.Add(c, seed.Bytes())
	}
	f.Fuzz(func(t *testing.T, codec byte, b []byte) {
		c := []Codec{VP8, VP9, AV1}[int(codec)%3]
		m := &memFile{}
		sink, err := newIVFSink(m, c)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			var n uint16
			if binary.Read(r, binary.BigEndian, &n) != nil {
				break
			}
			pb := make([]byte, n)
			if _, err := io.ReadFull(r, pb); err != nil {
				break
			}
			p := &rtp.Packet{}
			if p.Unmarshal(pb) != nil {
				continue
			}
			if err := sink.WriteRTP(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		rd, hdr, err := ivfreader.NewWith(bytes.NewReader(m.b))
		if err != nil {
			t.Fatal(err)
		}
		n := uint32(0)
		for {
			if _, _, err := rd.ParseNextFrame(); err != nil {
				break
			}
			n++
		}
		if n != hdr.NumFrames {
			t.Fatalf("file has %d frames, header says %d", n, hdr.NumFrames)
		}
	})
}
