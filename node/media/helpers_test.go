package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// oggMux builds Ogg streams page by page, independently of the package's
// demuxer, for tests.
type oggMux struct {
	buf bytes.Buffer
	seq map[uint32]uint32
}

// page appends one page with the given lacing values and body.
func (m *oggMux) page(serial uint32, flags byte, granule uint64, segs, body []byte) {
	if m.seq == nil {
		m.seq = map[uint32]uint32{}
	}
	h := make([]byte, oggHeaderLen, oggHeaderLen+len(segs)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], granule)
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], m.seq[serial])
	m.seq[serial]++
	h[26] = byte(len(segs))
	p := append(append(h, segs...), body...)
	binary.LittleEndian.PutUint32(p[22:], testOggCRC(p))
	m.buf.Write(p)
}

// packets appends one page holding whole packets.
func (m *oggMux) packets(serial uint32, flags byte, granule uint64, pkts ...[]byte) {
	var segs, body []byte
	for _, p := range pkts {
		segs = append(segs, lacing(len(p))...)
		body = append(body, p...)
	}
	m.page(serial, flags, granule, segs, body)
}

// lacing returns the lacing values of a packet of n bytes.
func lacing(n int) []byte {
	out := bytes.Repeat([]byte{255}, n/255)
	return append(out, byte(n%255))
}

// testOggCRC is a bit-by-bit Ogg CRC, independent of the table version.
func testOggCRC(b []byte) uint32 {
	var crc uint32
	for _, v := range b {
		crc ^= uint32(v) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func opusHead() []byte {
	h := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	return h
}

func opusTags() []byte {
	return append([]byte("OpusTags\x06\x00\x00\x00parley"), 0, 0, 0, 0)
}

// opusPacket returns a synthetic Opus packet: a real TOC byte, then filler.
func opusPacket(toc byte, n int, fill byte) []byte {
	p := bytes.Repeat([]byte{fill}, n)
	p[0] = toc
	return p
}

// ivfFrame is a frame of a test IVF file.
type ivfFrame struct {
	data []byte
	pts  uint64
}

// ivfBytes builds an IVF file; rate/scale is the time base (rate units per
// second per scale).
func ivfBytes(fourcc string, rate, scale uint32, frames []ivfFrame) []byte {
	var b bytes.Buffer
	h := make([]byte, 32)
	copy(h, "DKIF")
	binary.LittleEndian.PutUint16(h[6:], 32)
	copy(h[8:], fourcc)
	binary.LittleEndian.PutUint16(h[12:], 320)
	binary.LittleEndian.PutUint16(h[14:], 240)
	binary.LittleEndian.PutUint32(h[16:], rate)
	binary.LittleEndian.PutUint32(h[20:], scale)
	binary.LittleEndian.PutUint32(h[24:], uint32(len(frames)))
	b.Write(h)
	for _, f := range frames {
		var fh [12]byte
		binary.LittleEndian.PutUint32(fh[:], uint32(len(f.data)))
		binary.LittleEndian.PutUint64(fh[4:], f.pts)
		b.Write(fh[:])
		b.Write(f.data)
	}
	return b.Bytes()
}

// parseIVFTest parses an IVF file independently of the package: the header
// fields and the raw frames.
func parseIVFTest(t testing.TB, b []byte) (fourcc string, w, h uint16, rate, scale, count uint32, frames []ivfFrame) {
	t.Helper()
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		t.Fatalf("not an IVF file: % x", b[:min(len(b), 32)])
	}
	fourcc = string(b[8:12])
	w, h = binary.LittleEndian.Uint16(b[12:]), binary.LittleEndian.Uint16(b[14:])
	rate, scale = binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
	count = binary.LittleEndian.Uint32(b[24:])
	for off := 32; off < len(b); {
		if off+12 > len(b) {
			t.Fatalf("truncated frame header at %d", off)
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		pts := binary.LittleEndian.Uint64(b[off+4:])
		off += 12
		if off+n > len(b) {
			t.Fatalf("truncated frame at %d", off)
		}
		frames = append(frames, ivfFrame{data: b[off : off+n], pts: pts})
		off += n
	}
	return
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll reads a source to io.EOF (at most limit packets).
func readAll(t testing.TB, s Source, limit int) []*rtp.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*rtp.Packet
	for len(out) < limit {
		p, err := s.ReadRTP(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("ReadRTP after %d packets: %v", len(out), err)
		}
		out = append(out, p)
	}
	return out
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := m.off + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += len(p)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.off = int(off)
	case io.SeekCurrent:
		m.off += int(off)
	case io.SeekEnd:
		m.off = len(m.b) + int(off)
	}
	return int64(m.off), nil
}
