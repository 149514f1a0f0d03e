package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// MaxOggPacketSize bounds one Opus packet reassembled from Ogg pages; a
// larger one makes the file malformed (ErrBadOgg). The largest legal Opus
// packet (120 ms of 1275-byte frames) is far smaller.
const MaxOggPacketSize = 256 << 10

// Ogg and Opus constants (RFC 3533, RFC 7845, RFC 6716).
const (
	oggHeaderLen     = 27
	oggFlagContinued = 0x01
	oggFlagBOS       = 0x02
	oggFlagEOS       = 0x04
	oggNoGranule     = ^uint64(0)
	opusClockRate    = 48000
	opusDefaultDur   = 960 // 20 ms, for a packet whose TOC says nothing sane
)

// OpenOgg opens an Ogg/Opus file as a paced Source: one Opus packet per RTP
// packet, timestamps from the pages' granule positions. With loop, the file
// restarts at its end and timestamps keep increasing; otherwise ReadRTP
// returns io.EOF at the end.
func OpenOgg(path string, loop bool) (Source, error) {
	return OpenOggWith(path, FileOptions{Loop: loop})
}

// OpenOggWith is OpenOgg with all options. It reads the first Opus logical
// stream of the file (others are skipped) and fails at once if the file
// does not start with a valid OpusHead.
func OpenOggWith(path string, o FileOptions) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: open ogg: %w", pathErrno(err)) // the caller names the file
	}
	r := &oggFile{f: f}
	if err := r.rewind(); err != nil {
		return nil, errors.Join(fmt.Errorf("media: open ogg %s: %w", path, err), f.Close())
	}
	return newFileSource(Opus, r, o), nil
}

// oggFile is the frameReader of an Ogg/Opus file.
type oggFile struct {
	f *os.File
	d *oggDemuxer
}

func (r *oggFile) next() (frame, error) { return r.d.next() }

func (r *oggFile) close() error { return r.f.Close() }

func (r *oggFile) rewind() error {
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r.d = newOggDemuxer(bufio.NewReader(r.f))
	return r.d.readHead()
}

// oggDemuxer extracts the Opus packets of the first Opus logical stream of an
// Ogg stream, reassembling packets across pages from the lacing values.
// (pion's oggreader returns whole page bodies, which merge the several
// packets a page usually holds; it is used here for the OpusHead only.)
type oggDemuxer struct {
	r        io.Reader
	head     *oggreader.OggHeader
	serial   uint32
	packets  int    // packets completed in our stream, headers included
	partial  []byte // a packet continued on the next page
	skipping bool   // discarding a packet whose beginning was not seen
	pending  []frame
	ready    []frame
	eos      bool
	lastEnd  int64 // end of the last timestamped packet, 48 kHz ticks
}

func newOggDemuxer(r io.Reader) *oggDemuxer { return &oggDemuxer{r: r} }

// readHead reads pages up to the OpusHead of the first Opus stream.
func (d *oggDemuxer) readHead() error {
	for d.head == nil {
		pg, err := readOggPage(d.r)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: no Opus stream", ErrBadOgg)
			}
			return err
		}
		if pg.flags&oggFlagBOS == 0 {
			return fmt.Errorf("%w: no Opus stream", ErrBadOgg)
		}
		if len(pg.segs) != 1 || pg.segs[0] == 255 || len(pg.body) < 8 || string(pg.body[:8]) != string(oggreader.HeaderOpusID) {
			continue // the first page of another codec's stream
		}
		h, err := oggreader.ParseOpusHead(pg.body)
		if err != nil {
			return fmt.Errorf("%w: OpusHead: %w", ErrBadOgg, err)
		}
		d.head, d.serial, d.packets = h, pg.serial, 1
	}
	return nil
}

// next returns the next Opus packet with its timestamp, or io.EOF.
func (d *oggDemuxer) next() (frame, error) {
	for len(d.ready) == 0 {
		if d.eos {
			d.stampForward()
			if len(d.ready) == 0 {
				return frame{}, io.EOF
			}
			break
		}
		pg, err := readOggPage(d.r)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			// A missing EOS page or a truncated last page (a recorder that
			// was killed) ends the stream; what was complete is played.
			d.eos = true
			continue
		case err != nil:
			return frame{}, err
		}
		if err := d.page(pg); err != nil {
			return frame{}, err
		}
	}
	f := d.ready[0]
	d.ready = d.ready[1:]
	return f, nil
}

// page splits one page of our stream into packets.
func (d *oggDemuxer) page(pg oggPage) error {
	if pg.serial != d.serial || pg.flags&oggFlagBOS != 0 {
		return nil
	}
	if pg.flags&oggFlagContinued == 0 {
		d.partial, d.skipping = nil, false // an unfinished packet is lost
	} else if len(d.partial) == 0 {
		d.skipping = true // its beginning was never seen
	}
	off := 0
	for _, l := range pg.segs {
		seg := pg.body[off : off+int(l)]
		off += int(l)
		if !d.skipping {
			if len(d.partial)+len(seg) > MaxOggPacketSize {
				return fmt.Errorf("%w: packet larger than %d bytes", ErrBadOgg, MaxOggPacketSize)
			}
			d.partial = append(d.partial, seg...)
		}
		if l < 255 {
			if !d.skipping {
				d.packet(d.partial)
			}
			d.partial, d.skipping = nil, false
		}
	}
	if pg.granule != oggNoGranule {
		d.stamp(int64(pg.granule))
	}
	if pg.flags&oggFlagEOS != 0 {
		d.eos = true
	}
	return nil
}

// packet takes one complete packet: the first two are OpusHead and OpusTags.
func (d *oggDemuxer) packet(p []byte) {
	d.packets++
	if d.packets <= 2 || len(p) == 0 {
		return
	}
	dur := opusPacketSamples(p)
	if dur == 0 {
		dur = opusDefaultDur
	}
	d.pending = append(d.pending, frame{data: p, dur: int64(dur)})
}

// stamp timestamps the pending packets: the granule position is the end of
// the last packet completed on the page, so walk back by packet durations.
func (d *oggDemuxer) stamp(granule int64) {
	end := granule
	for i := len(d.pending) - 1; i >= 0; i-- {
		end -= d.pending[i].dur
		d.pending[i].pts = end
	}
	if len(d.pending) > 0 {
		d.lastEnd = granule
	}
	d.ready = append(d.ready, d.pending...)
	d.pending = nil
}

// stampForward timestamps packets left without a granule at the end of the
// stream, continuing from the last known one.
func (d *oggDemuxer) stampForward() {
	for i := range d.pending {
		d.pending[i].pts = d.lastEnd
		d.lastEnd += d.pending[i].dur
	}
	d.ready = append(d.ready, d.pending...)
	d.pending = nil
}

// oggPage is one parsed Ogg page.
type oggPage struct {
	flags   byte
	granule uint64
	serial  uint32
	seq     uint32
	segs    []byte // lacing values
	body    []byte
}

// readOggPage reads and checks (capture pattern, version, CRC) one page.
func readOggPage(r io.Reader) (oggPage, error) {
	var hdr [oggHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return oggPage{}, err
	}
	if string(hdr[:4]) != "OggS" || hdr[4] != 0 {
		return oggPage{}, fmt.Errorf("%w: bad page header", ErrBadOgg)
	}
	pg := oggPage{
		flags:   hdr[5],
		granule: binary.LittleEndian.Uint64(hdr[6:]),
		serial:  binary.LittleEndian.Uint32(hdr[14:]),
		seq:     binary.LittleEndian.Uint32(hdr[18:]),
		segs:    make([]byte, hdr[26]),
	}
	if _, err := io.ReadFull(r, pg.segs); err != nil {
		return oggPage{}, io.ErrUnexpectedEOF
	}
	n := 0
	for _, l := range pg.segs {
		n += int(l)
	}
	pg.body = make([]byte, n)
	if _, err := io.ReadFull(r, pg.body); err != nil {
		return oggPage{}, io.ErrUnexpectedEOF
	}
	want := binary.LittleEndian.Uint32(hdr[22:])
	clear(hdr[22:26])
	crc := oggCRC(oggCRC(oggCRC(0, hdr[:]), pg.segs), pg.body)
	if crc != want {
		return oggPage{}, fmt.Errorf("%w: page %d: CRC mismatch", ErrBadOgg, pg.seq)
	}
	return pg, nil
}

// oggCRCTable is the table of Ogg's CRC-32: polynomial 0x04c11db7, not
// reflected, initial value 0, no final XOR.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(crc uint32, b []byte) uint32 {
	for _, v := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^v]
	}
	return crc
}

// opusPacketSamples returns the duration of an Opus packet in 48 kHz
// samples, from its TOC byte and frame count (RFC 6716 section 3.1), or 0 if
// the packet is malformed or longer than 120 ms. Nothing is decoded.
func opusPacketSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	var perFrame int // in 48 kHz samples
	switch {
	case toc&0x80 != 0: // CELT-only: 2.5, 5, 10, 20 ms
		perFrame = 120 << (toc >> 3 & 3)
	case toc&0x60 == 0x60: // hybrid: 10, 20 ms
		perFrame = 480 << (toc >> 3 & 1)
	default: // SILK-only: 10, 20, 40, 60 ms
		perFrame = [4]int{480, 960, 1920, 2880}[toc>>3&3]
	}
	n := frames * perFrame
	if n > 5760 {
		return 0
	}
	return n
}

// pathErrno is the errno inside a *fs.PathError (the path is named by the
// caller already), else err.
func pathErrno(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
