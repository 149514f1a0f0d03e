package natlab

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Multistream-select protocol IDs that may appear in clear on a libp2p TCP
// connection: the header and the security protocols (the muxer and every
// application protocol are negotiated inside the secure channel).
var clearProtocols = map[string]bool{
	"/multistream/1.0.0": true,
	"/tls/1.0.0":         true,
	"/noise":             true,
	"na":                 true,
}

// SecureChannel is what CheckSecureChannel found in one direction of a
// libp2p TCP connection.
type SecureChannel struct {
	// Security is the security protocol: "/tls/1.0.0" or "/noise".
	Security string
	// Clear lists the multistream-select messages sent in clear.
	Clear []string
	// Records counts TLS records or Noise frames, HandshakeRecords those
	// of them sent before encryption (TLS ClientHello/ServerHello, the first
	// Noise message).
	Records, HandshakeRecords int
	// Encrypted is how many bytes travelled inside encrypted records.
	Encrypted int
	// Truncated is true when the capture ended inside a record.
	Truncated bool
}

// CheckSecureChannel checks that one direction of a libp2p TCP connection,
// from its first byte, is multistream-select negotiating a security
// protocol followed by nothing but that protocol's framing: TLS 1.3 records
// (only ClientHello/ServerHello and change-cipher-spec in clear, everything
// after as application-data records of at least 17 bytes, i.e. a content
// type and an AEAD tag), or Noise frames (2-byte length, each at least a
// 16-byte tag after the first handshake message). Anything else — a
// protocol ID of an application protocol in clear, a plaintext record
// after the handshake — is an error.
func CheckSecureChannel(b []byte) (SecureChannel, error) {
	var sc SecureChannel
	for len(b) > 0 {
		msg, n, ok := multistreamMessage(b)
		if !ok {
			break
		}
		sc.Clear = append(sc.Clear, msg)
		if msg != "/multistream/1.0.0" && msg != "na" {
			sc.Security = msg
		}
		b = b[n:]
	}
	switch {
	case sc.Security == "" && len(b) > 0:
		return sc, fmt.Errorf("%w: libp2p: no security protocol negotiated before %d bytes (%q…)", ErrCleartext, len(b), prefix(b, 24))
	case sc.Security == "/tls/1.0.0":
		return sc, checkTLSRecords(&sc, b)
	case sc.Security == "/noise":
		return sc, checkNoiseFrames(&sc, b)
	}
	return sc, nil
}

// multistreamMessage decodes one uvarint-length-prefixed,
// newline-terminated multistream-select message if it is one of the
// protocol IDs allowed in clear.
func multistreamMessage(b []byte) (string, int, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l < 2 || l > 64 || uint64(len(b)-n) < l {
		return "", 0, false
	}
	msg := b[n : n+int(l)]
	if msg[len(msg)-1] != '\n' {
		return "", 0, false
	}
	s := string(msg[:len(msg)-1])
	if !clearProtocols[s] {
		return "", 0, false
	}
	return s, n + int(l), true
}

// TLS record content types.
const (
	tlsChangeCipherSpec = 20
	tlsAlert            = 21
	tlsHandshake        = 22
	tlsApplicationData  = 23
)

func checkTLSRecords(sc *SecureChannel, b []byte) error {
	encrypted := false
	for len(b) > 0 {
		if len(b) < 5 {
			sc.Truncated = true
			return nil
		}
		typ, ver, n := b[0], binary.BigEndian.Uint16(b[1:3]), int(binary.BigEndian.Uint16(b[3:5]))
		if ver != 0x0301 && ver != 0x0303 || n == 0 || n > 1<<14+256 {
			return fmt.Errorf("%w: TLS record header type %d version %#04x length %d", ErrCleartext, typ, ver, n)
		}
		if len(b) < 5+n {
			sc.Truncated = true
			return nil
		}
		body := b[5 : 5+n]
		sc.Records++
		switch typ {
		case tlsHandshake:
			// TLS 1.3: only the hellos travel in clear; a handshake record
			// after encryption started, or of another type, is plaintext
			// that should not be there.
			if encrypted || (body[0] != 1 && body[0] != 2) {
				return fmt.Errorf("%w: TLS handshake message type %d in clear", ErrCleartext, body[0])
			}
			sc.HandshakeRecords++
		case tlsChangeCipherSpec:
			if n != 1 {
				return fmt.Errorf("%w: TLS change-cipher-spec of %d bytes", ErrCleartext, n)
			}
		case tlsAlert:
			if encrypted || n != 2 {
				return fmt.Errorf("%w: TLS alert of %d bytes in clear", ErrCleartext, n)
			}
		case tlsApplicationData:
			if n < 17 {
				return fmt.Errorf("%w: TLS record of %d bytes is too short to be encrypted", ErrCleartext, n)
			}
			encrypted = true
			sc.Encrypted += n
		default:
			return fmt.Errorf("%w: TLS record type %d", ErrCleartext, typ)
		}
		b = b[5+n:]
	}
	return nil
}

func checkNoiseFrames(sc *SecureChannel, b []byte) error {
	for len(b) > 0 {
		if len(b) < 2 {
			sc.Truncated = true
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[0:2]))
		if len(b) < 2+n {
			sc.Truncated = true
			return nil
		}
		sc.Records++
		switch {
		case sc.Records == 1 && n >= 32:
			sc.HandshakeRecords++ // an ephemeral key, or e, ee, s, es
		case n < 16:
			return fmt.Errorf("%w: Noise frame of %d bytes is too short to be encrypted", ErrCleartext, n)
		default:
			sc.Encrypted += n
		}
		b = b[2+n:]
	}
	return nil
}

// CheckQUIC checks that a UDP datagram is a QUIC v1/v2 packet: the fixed
// bit set and, for a long header, a known version (QUIC encrypts every
// packet payload; Initial packets with keys anyone can derive, which carry
// only the TLS hellos).
func CheckQUIC(b []byte) error {
	if len(b) < 1+1+8 || b[0]&0x40 == 0 {
		return fmt.Errorf("%w: not a QUIC packet (%d bytes, first %#02x)", ErrCleartext, len(b), firstByte(b))
	}
	if b[0]&0x80 != 0 {
		if len(b) < 5 {
			return fmt.Errorf("%w: short QUIC long header", ErrCleartext)
		}
		switch v := binary.BigEndian.Uint32(b[1:5]); v {
		case 1, 0x6b3343cf:
		default:
			return fmt.Errorf("%w: QUIC version %#08x", ErrCleartext, v)
		}
	}
	return nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func prefix(b []byte, n int) string { return strings.ToValidUTF8(string(b[:min(n, len(b))]), "?") }
