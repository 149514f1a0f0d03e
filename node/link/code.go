package link

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/node/account"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// A link code names a new device waiting to be linked and carries the
// one-time secret of the link session. Binary layout, version 1, read and
// written with internal/wire (all integers big-endian):
//
//	size  field
//	   1  version = 1
//	   8  expiry, Unix seconds
//	  16  secret
//	   1  length of the device's peer ID, 1..64
//	   n  the peer ID (raw multihash bytes; an Ed25519 identity key)
//	   1  number of addresses, 0..4
//	   …  per address: 1-byte length (1..255) + binary multiaddr
//	   4  check: the first 4 bytes of SHA-256 of everything before
//
// Its text form is base32 (RFC 4648 alphabet, no padding) in groups of four
// characters joined by '-'. Parsing ignores case, spaces and dashes.
const (
	linkCodeVersion  = 1
	linkSecretLen    = 16
	linkCheckLen     = 4
	maxLinkCodeAddrs = 4
	maxLinkPeerIDLen = 64
	maxLinkAddrLen   = 255
	linkCodeGroup    = 4
	// maxLinkCodeText bounds the text we try to parse.
	maxLinkCodeText = 2048
)

var linkB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// LinkCode is a parsed link code.
type LinkCode struct {
	// Device is the new device (its libp2p peer ID).
	Device pcrypto.DeviceID
	// Secret is the one-time secret shared through the code. Secret.
	Secret [linkSecretLen]byte
	// Expires is when the new device stops accepting the code.
	Expires time.Time
	// Addrs are where the new device listens (relay addresses included).
	Addrs []ma.Multiaddr
}

// Marshal returns the binary form of the code.
func (c *LinkCode) Marshal() ([]byte, error) {
	if len(c.Addrs) > maxLinkCodeAddrs {
		return nil, fmt.Errorf("link code: %w: %d addresses, at most %d", service.ErrInvalidInput, len(c.Addrs), maxLinkCodeAddrs)
	}
	pid := []byte(c.Device)
	if len(pid) == 0 || len(pid) > maxLinkPeerIDLen {
		return nil, fmt.Errorf("link code: %w: device ID of %d bytes", service.ErrInvalidInput, len(pid))
	}
	e := wire.NewEncoder([]byte{linkCodeVersion})
	e.Uint64(uint64(c.Expires.Unix()))
	e.Raw(c.Secret[:])
	e.Uint8(byte(len(pid)))
	e.Raw(pid)
	e.Uint8(byte(len(c.Addrs)))
	for _, a := range c.Addrs {
		ab := a.Bytes()
		if len(ab) == 0 || len(ab) > maxLinkAddrLen {
			return nil, fmt.Errorf("link code: %w: address %s too long", service.ErrInvalidInput, a)
		}
		e.Uint8(byte(len(ab)))
		e.Raw(ab)
	}
	sum := sha256.Sum256(e.Data())
	return append(e.Data(), sum[:linkCheckLen]...), nil
}

// String returns the text form: grouped base32.
func (c *LinkCode) String() string {
	b, err := c.Marshal()
	if err != nil {
		return ""
	}
	s := linkB32.EncodeToString(b)
	var out strings.Builder
	for i := 0; i < len(s); i += linkCodeGroup {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i:min(i+linkCodeGroup, len(s))])
	}
	return out.String()
}

// ParseLinkCode parses the text form of a link code. A typo is caught by the
// check bytes and reported as such.
func ParseLinkCode(s string) (*LinkCode, error) {
	if len(s) > maxLinkCodeText {
		return nil, fmt.Errorf("%w: link code too long", service.ErrInvalidInput)
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	b, err := linkB32.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: link code is not valid base32 (check for a typo): %v", service.ErrInvalidInput, err)
	}
	return DecodeLinkCode(b)
}

// DecodeLinkCode parses the binary form of a link code.
func DecodeLinkCode(b []byte) (*LinkCode, error) {
	if len(b) < 1+8+linkSecretLen+1+1+1+linkCheckLen {
		return nil, fmt.Errorf("%w: link code too short (check that it was copied whole)", service.ErrInvalidInput)
	}
	body, check := b[:len(b)-linkCheckLen], b[len(b)-linkCheckLen:]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:linkCheckLen], check) {
		return nil, fmt.Errorf("%w: link code check failed (check for a typo)", service.ErrInvalidInput)
	}
	if body[0] != linkCodeVersion {
		return nil, fmt.Errorf("%w: link code version %d (made by a newer Parley?)", service.ErrInvalidInput, body[0])
	}
	d := wire.NewDecoder(body[1:])
	c := &LinkCode{Expires: time.Unix(int64(d.Uint64()), 0)}
	d.Fill(c.Secret[:])
	pid := readShort(d, maxLinkPeerIDLen)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: link code device ID: %v", service.ErrInvalidInput, err)
	}
	c.Device = pcrypto.DeviceID(pid)
	if _, err := c.Device.PublicKey(); err != nil {
		return nil, fmt.Errorf("%w: link code device ID: %w", service.ErrInvalidInput, err)
	}
	n := d.Uint8()
	if d.Err() != nil || n > maxLinkCodeAddrs {
		return nil, fmt.Errorf("%w: link code address count", service.ErrInvalidInput)
	}
	for range n {
		ab := bytes.Clone(readShort(d, maxLinkAddrLen))
		if err := d.Err(); err != nil {
			return nil, fmt.Errorf("%w: link code address: %v", service.ErrInvalidInput, err)
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, fmt.Errorf("%w: link code address: %v", service.ErrInvalidInput, err)
		}
		c.Addrs = append(c.Addrs, a)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: link code: %v", service.ErrInvalidInput, err)
	}
	return c, nil
}

// readShort reads a 1-byte length, 1..limit, and that many bytes.
func readShort(d *wire.Decoder, limit int) []byte {
	n := int(d.Uint8())
	if d.Err() == nil && (n == 0 || n > limit) {
		d.Fail(fmt.Errorf("%w: length %d not in 1..%d", wire.ErrTooLong, n, limit))
	}
	return d.Raw(n)
}

// peerInfo is where to dial the new device.
func (c *LinkCode) peerInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: peer.ID(c.Device), Addrs: c.Addrs}
}

// codeID identifies a code without revealing its secret (for the approver's
// list of used codes).
func (c *LinkCode) codeID() [32]byte {
	h := sha256.New()
	h.Write([]byte("parley link v1 code id"))
	h.Write([]byte(c.Device))
	h.Write(c.Secret[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ---- key schedule of a link session ----

// Labels of the link session's derivations.
const (
	linkProofLabel   = "parley link v1 proof"
	linkCommitLabel  = "parley link v1 commit"
	linkSASLabel     = "parley link v1 sas"
	linkArchiveLabel = "parley link v1 archive"
	linkNonceLen     = 32
)

// linkMAC is HMAC-SHA-256 keyed with the link secret over a label and
// length-prefixed parts.
func linkMAC(secret []byte, label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	for _, p := range parts {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		m.Write(p)
	}
	return m.Sum(nil)
}

// linkProof is the approver's proof that it knows the secret, bound to both
// devices and to its nonce commitment.
func linkProof(secret []byte, approver, device pcrypto.DeviceID, commit []byte) []byte {
	return linkMAC(secret, linkProofLabel, []byte(approver), []byte(device), commit)
}

// linkCommit commits the approver to its nonce before it sees the new
// device's.
func linkCommit(nonce []byte) []byte {
	h := sha256.New()
	h.Write([]byte(linkCommitLabel))
	h.Write(nonce)
	return h.Sum(nil)
}

// linkSAS is the short authentication string both devices show: six
// decimal digits in two groups, from the secret, both device IDs and both
// nonces.
func linkSAS(secret []byte, approver, device pcrypto.DeviceID, approverNonce, deviceNonce []byte) string {
	mac := linkMAC(secret, linkSASLabel, []byte(approver), []byte(device), approverNonce, deviceNonce)
	v := binary.BigEndian.Uint64(mac[:8]) % 1_000_000
	return fmt.Sprintf("%03d %03d", v/1000, v%1000)
}

// linkArchivePassphrase is the passphrase the archive is encrypted with on
// the wire: hex of a MAC over the session, so it has the secret's 128 bits
// of entropy and is unique to the session.
func linkArchivePassphrase(secret []byte, approver, device pcrypto.DeviceID, approverNonce, deviceNonce []byte) []byte {
	mac := linkMAC(secret, linkArchiveLabel, []byte(approver), []byte(device), approverNonce, deviceNonce)
	return []byte(fmt.Sprintf("%x", mac))
}

// linkKDF is the argon2id cost for the archive on the wire: minimal, since
// the passphrase is a 256-bit MAC of a 128-bit random secret, not something
// a person chose.
var linkKDF = pcrypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// normalizeSAS keeps the digits of a SAS typed by a user.
func normalizeSAS(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// ---- wire messages ----

// LinkProtocol is the link session protocol: the approving device dials
// the new device named in a link code.
const LinkProtocol = "/parley/link/1.0.0"

// Bounds of the link protocol.
const (
	maxLinkFrame = 1 << 20
	// linkIOTimeout bounds each protocol step that does not wait for a
	// person.
	linkIOTimeout = 20 * time.Second
	// linkConfirmTimeout is how long the approving device's user has to
	// confirm the SAS.
	linkConfirmTimeout = 90 * time.Second
)

// Types of link message.
const (
	linkHello    = "hello"
	linkDevice   = "device"
	linkReveal   = "reveal"
	linkTransfer = "transfer"
	linkDone     = "done"
	linkError    = "error"
)

// Error codes of link error messages.
const (
	linkCodeExpired  = "expired"
	linkCodeUsed     = "used"
	linkCodeBusy     = "busy"
	linkCodeAttempts = "attempts"
	linkCodeProof    = "proof"
	linkCodeSAS      = "sas"
	linkCodeAccount  = "account"
	linkCodeInvalid  = "invalid"
	linkCodeTimeout  = "timeout"
	linkCodeInternal = "internal"
)

// linkMsg is one message of a link session; which fields are set depends on
// Type (see docs/protocol.md "Linking devices").
type linkMsg struct {
	V           int    `json:"v"`
	Type        string `json:"type"`
	AccountCert []byte `json:"account_cert,omitempty"`
	DeviceCert  []byte `json:"device_cert,omitempty"`
	Commit      []byte `json:"commit,omitempty"`
	Proof       []byte `json:"proof,omitempty"`
	Nonce       []byte `json:"nonce,omitempty"`
	Name        string `json:"name,omitempty"`
	Archive     []byte `json:"archive,omitempty"`
	Record      []byte `json:"record,omitempty"`
	Code        string `json:"code,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// validate checks the fields a message of its type must carry.
func (m *linkMsg) validate() error {
	if m.V != 1 {
		return fmt.Errorf("link message version %d", m.V)
	}
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("link %s message without a valid %s", m.Type, what)
		}
		return nil
	}
	switch m.Type {
	case linkHello:
		if err := need(len(m.AccountCert) > 0 && len(m.DeviceCert) > 0, "certificate"); err != nil {
			return err
		}
		if err := need(len(m.Commit) == sha256.Size, "commitment"); err != nil {
			return err
		}
		return need(len(m.Proof) == sha256.Size, "proof")
	case linkDevice:
		if err := need(len(m.Name) <= account.MaxDeviceName, "name"); err != nil {
			return err
		}
		return need(len(m.Nonce) == linkNonceLen, "nonce")
	case linkReveal:
		return need(len(m.Nonce) == linkNonceLen, "nonce")
	case linkTransfer:
		return need(len(m.DeviceCert) > 0 && len(m.Archive) > 0, "certificate and archive")
	case linkDone:
		return nil
	case linkError:
		return need(m.Code != "" && len(m.Code) <= 32 && len(m.Reason) <= 512, "code and reason")
	}
	return fmt.Errorf("unknown link message type %q", m.Type)
}

// encodeLinkMsg frames a message: uvarint length, then JSON.
func encodeLinkMsg(m *linkMsg) ([]byte, error) {
	m.V = 1
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return wire.AppendFrame(nil, body, maxLinkFrame)
}

// decodeLinkMsg parses one message body (without its length prefix).
func decodeLinkMsg(body []byte) (*linkMsg, error) {
	var m linkMsg
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed link message: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("malformed link message: trailing data")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// readLinkMsg reads one framed message.
func readLinkMsg(r *bufio.Reader) (*linkMsg, error) {
	body, err := wire.ReadFrame(r, maxLinkFrame)
	if err != nil {
		return nil, err
	}
	return decodeLinkMsg(body)
}
