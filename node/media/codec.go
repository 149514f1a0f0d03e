package media

import (
	"fmt"
	"strings"
)

// Kind is the kind of a media stream: "audio" or "video".
type Kind string

// The media kinds.
const (
	Audio Kind = "audio"
	Video Kind = "video"
)

// Codec describes the RTP payload format of a stream. Parley never decodes
// media (G.711 µ-law excepted); the codec only names what the bytes are, the
// RTP clock and the payload type to send.
type Codec struct {
	// Name is the RTP encoding name: "PCMU", "opus", "VP8", "VP9" or "AV1".
	Name string
	// Kind is Audio or Video.
	Kind Kind
	// ClockRate is the RTP timestamp clock in Hz.
	ClockRate uint32
	// Channels is the channel count in the SDP sense (0 for video).
	Channels uint16
	// PayloadType is the RTP payload type Parley sends for this codec.
	PayloadType uint8
}

// The codecs Parley carries. The payload types are the ones browsers commonly
// use, so captures are easy to read in Wireshark; they are not negotiated.
var (
	PCMU = Codec{Name: "PCMU", Kind: Audio, ClockRate: 8000, Channels: 1, PayloadType: 0}
	Opus = Codec{Name: "opus", Kind: Audio, ClockRate: 48000, Channels: 2, PayloadType: 111}
	VP8  = Codec{Name: "VP8", Kind: Video, ClockRate: 90000, PayloadType: 96}
	VP9  = Codec{Name: "VP9", Kind: Video, ClockRate: 90000, PayloadType: 98}
	AV1  = Codec{Name: "AV1", Kind: Video, ClockRate: 90000, PayloadType: 45}
)

// Codecs lists every codec CodecByName knows.
var Codecs = []Codec{PCMU, Opus, VP8, VP9, AV1}

// CodecByName returns the codec with the given encoding name, compared
// case-insensitively ("opus", "OPUS" and "Opus" are the same codec).
func CodecByName(name string) (Codec, error) {
	for _, c := range Codecs {
		if strings.EqualFold(c.Name, name) {
			return c, nil
		}
	}
	return Codec{}, fmt.Errorf("media: codec %q: %w", name, ErrUnknownCodec)
}

// String returns the codec's name, e.g. "opus/48000/2" or "VP8/90000".
func (c Codec) String() string {
	if c.Channels > 0 {
		return fmt.Sprintf("%s/%d/%d", c.Name, c.ClockRate, c.Channels)
	}
	return fmt.Sprintf("%s/%d", c.Name, c.ClockRate)
}
