package media

import "errors"

// Errors returned by this package. Returned errors wrap one of these together
// with the operation and the detail; test them with errors.Is.
var (
	// ErrUnknownCodec means a codec name is not one of Codecs.
	ErrUnknownCodec = errors.New("unknown codec")

	// ErrUnsupportedCodec means the codec is known but the source or sink
	// asked for cannot carry it (an Ogg sink for VP8, an IVF file whose
	// fourcc is not VP8/VP9/AV1, a file sink for PCMU, ...).
	ErrUnsupportedCodec = errors.New("codec not supported here")

	// ErrKindMismatch means a source or sink spec names media of the other
	// kind (a tone where video was asked for, an .ivf file for audio).
	ErrKindMismatch = errors.New("media kind mismatch")

	// ErrBadSpec means a source or sink spec string cannot be understood.
	ErrBadSpec = errors.New("bad media spec")

	// ErrBadTone means a tone frequency is not in (0, 4000) Hz, the range
	// an 8 kHz G.711 stream can carry, or a tone option is negative.
	ErrBadTone = errors.New("bad tone parameters")

	// ErrNotLoopback means an RTP listen or forward address is not a
	// loopback address and the caller did not allow other addresses.
	ErrNotLoopback = errors.New("address is not loopback")

	// ErrExists means a recording file would replace an existing file (or
	// a symbolic link) of that name; recordings never do.
	ErrExists = errors.New("recording file already exists")

	// ErrClosed means the source or sink was closed.
	ErrClosed = errors.New("media source or sink closed")

	// ErrBadRTP means a datagram is not an acceptable RTP packet: it does not
	// parse, is not version 2, carries no payload, or has a payload type in
	// the RTCP range 64–95 (RFC 5761).
	ErrBadRTP = errors.New("not a valid RTP packet")

	// ErrOversized means a datagram is longer than MaxPacketSize.
	ErrOversized = errors.New("RTP packet too large")

	// ErrBadOgg means an Ogg file is malformed: bad capture pattern or
	// version, CRC mismatch, no Opus stream, a malformed OpusHead, or a
	// packet larger than MaxOggPacketSize.
	ErrBadOgg = errors.New("malformed Ogg/Opus file")

	// ErrBadIVF means an IVF file is malformed: bad signature or header, a
	// frame larger than MaxIVFFrameSize, or timestamps that overflow.
	ErrBadIVF = errors.New("malformed IVF file")
)
