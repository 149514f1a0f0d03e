package callproto

import (
	"bytes"
	"crypto/mlkem"
	"encoding/binary"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// payloadVersion starts every payload; a different value is refused.
const payloadVersion = 1

// Payload type bytes, the second byte of every payload.
const (
	msgOffer   = 1
	msgAnswer  = 2
	msgControl = 3
)

// Wire codes of media kinds and control types. Zero is never valid.
var (
	kindCodes    = []string{1: KindAudio, 2: KindVideo}
	controlCodes = []string{
		1:  ControlRinging,
		2:  ControlDecline,
		3:  ControlBusy,
		4:  ControlCancel,
		5:  ControlHangup,
		6:  ControlAnsweredElsewhere,
		7:  ControlCandidate,
		8:  ControlEndOfCandidates,
		9:  ControlError,
		10: ControlConfirm,
	}
)

// wireCode returns the index of name in codes, or 0.
func wireCode(codes []string, name string) uint8 {
	for i, c := range codes {
		if i > 0 && c == name {
			return uint8(i)
		}
	}
	return 0
}

// codeName returns the name of a wire code, or "" for an unknown code.
func codeName(codes []string, code uint8) string {
	if int(code) >= len(codes) {
		return ""
	}
	return codes[code]
}

// fieldErr describes an invalid field. Callers wrap it with ErrMalformed
// (parsing) or ErrInvalidMessage (signing).
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// validate checks the fields of an offer.
func (o *Offer) validate() error {
	switch {
	case o == nil:
		return fieldErr("Offer", "nil")
	case o.CallID.IsZero():
		return fieldErr("CallID", "zero")
	case o.Time.IsZero():
		return fieldErr("Time", "zero")
	case o.From.IsZero():
		return fieldErr("From", "zero")
	case o.To.IsZero():
		return fieldErr("To", "zero")
	case o.SASCommit == [32]byte{}:
		return fieldErr("SASCommit", "zero (use CallerKeys.FillOffer)")
	}
	if err := checkCerts(o.AccountCert, o.DeviceCert); err != nil {
		return err
	}
	if len(o.X25519) != X25519Size {
		return fieldErr("X25519", "%d bytes, want %d", len(o.X25519), X25519Size)
	}
	if len(o.MLKEMEncapKey) != mlkem.EncapsulationKeySize768 {
		return fieldErr("MLKEMEncapKey", "%d bytes, want %d", len(o.MLKEMEncapKey), mlkem.EncapsulationKeySize768)
	}
	if _, err := mlkem.NewEncapsulationKey768(o.MLKEMEncapKey); err != nil {
		return fieldErr("MLKEMEncapKey", "%v", err)
	}
	return checkSession(o.ICEUfrag, o.ICEPwd, o.Media)
}

// validate checks the fields of an answer.
func (a *Answer) validate() error {
	switch {
	case a == nil:
		return fieldErr("Answer", "nil")
	case a.CallID.IsZero():
		return fieldErr("CallID", "zero")
	case a.Time.IsZero():
		return fieldErr("Time", "zero")
	case a.OfferHash == [32]byte{}:
		return fieldErr("OfferHash", "zero")
	}
	if err := checkCerts(a.AccountCert, a.DeviceCert); err != nil {
		return err
	}
	if len(a.X25519) != X25519Size {
		return fieldErr("X25519", "%d bytes, want %d", len(a.X25519), X25519Size)
	}
	if len(a.MLKEMCiphertext) != mlkem.CiphertextSize768 {
		return fieldErr("MLKEMCiphertext", "%d bytes, want %d", len(a.MLKEMCiphertext), mlkem.CiphertextSize768)
	}
	return checkSession(a.ICEUfrag, a.ICEPwd, a.Media)
}

// validate checks the fields of a control message. Candidate, Code and
// SASNonce are set exactly for the types that carry them.
func (c *Control) validate() error {
	switch {
	case c == nil:
		return fieldErr("Control", "nil")
	case c.CallID.IsZero():
		return fieldErr("CallID", "zero")
	case c.Time.IsZero():
		return fieldErr("Time", "zero")
	case wireCode(controlCodes, c.Type) == 0:
		return fieldErr("Type", "unknown type %q", c.Type)
	case (c.Type == ControlCandidate) != (c.Candidate != ""):
		return fieldErr("Candidate", "set exactly for type %q", ControlCandidate)
	case (c.Type == ControlError) != (c.Code != 0):
		return fieldErr("Code", "set exactly for type %q", ControlError)
	case (c.Type == ControlConfirm) != (c.SASNonce != [32]byte{}):
		return fieldErr("SASNonce", "set exactly for type %q", ControlConfirm)
	}
	if err := checkText("Reason", c.Reason, MaxReasonLen); err != nil {
		return err
	}
	if len(c.Candidate) > MaxCandidateLen {
		return fieldErr("Candidate", "%d bytes, at most %d", len(c.Candidate), MaxCandidateLen)
	}
	for i := range len(c.Candidate) {
		if b := c.Candidate[i]; b < 0x20 || b > 0x7e {
			return fieldErr("Candidate", "byte 0x%02x at %d is not printable ASCII", b, i)
		}
	}
	return nil
}

func checkCerts(ac, dc []byte) error {
	if len(ac) == 0 || len(ac) > MaxCertSize {
		return fieldErr("AccountCert", "%d bytes, want 1..%d", len(ac), MaxCertSize)
	}
	if len(dc) == 0 || len(dc) > MaxCertSize {
		return fieldErr("DeviceCert", "%d bytes, want 1..%d", len(dc), MaxCertSize)
	}
	return nil
}

// checkSession checks ICE credentials and media descriptions.
func checkSession(ufrag, pwd string, media []MediaDesc) error {
	if err := checkICE("ICEUfrag", ufrag, 4); err != nil {
		return err
	}
	if err := checkICE("ICEPwd", pwd, 22); err != nil {
		return err
	}
	if len(media) == 0 || len(media) > MaxMedia {
		return fieldErr("Media", "%d entries, want 1..%d", len(media), MaxMedia)
	}
	ssrcs := make(map[uint32]bool, len(media))
	for i, m := range media {
		if err := m.validate(); err != nil {
			return fmt.Errorf("Media[%d].%w", i, err)
		}
		if ssrcs[m.SSRC] {
			return fieldErr(fmt.Sprintf("Media[%d].SSRC", i), "duplicate SSRC %d", m.SSRC)
		}
		ssrcs[m.SSRC] = true
	}
	return nil
}

// checkICE checks an ICE ufrag or password: min..MaxICELen ice-chars
// (ALPHA / DIGIT / "+" / "/", RFC 8445 §5.3).
func checkICE(field, s string, min int) error {
	if len(s) < min || len(s) > MaxICELen {
		return fieldErr(field, "%d characters, want %d..%d", len(s), min, MaxICELen)
	}
	for i := range len(s) {
		b := s[i]
		if !isAlnum(b) && b != '+' && b != '/' {
			return fieldErr(field, "byte 0x%02x at %d is not an ice-char", b, i)
		}
	}
	return nil
}

func (m MediaDesc) validate() error {
	switch {
	case wireCode(kindCodes, m.Kind) == 0:
		return fieldErr("Kind", "unknown kind %q", m.Kind)
	case len(m.Codec) == 0 || len(m.Codec) > MaxCodecLen:
		return fieldErr("Codec", "%d bytes, want 1..%d", len(m.Codec), MaxCodecLen)
	case m.ClockRate == 0 || m.ClockRate > 1_000_000:
		return fieldErr("ClockRate", "%d, want 1..1000000", m.ClockRate)
	case m.Channels > 8:
		return fieldErr("Channels", "%d, want 0..8", m.Channels)
	case m.PayloadType > 127:
		return fieldErr("PayloadType", "%d, want 0..127", m.PayloadType)
	}
	for i := range len(m.Codec) {
		if b := m.Codec[i]; !isAlnum(b) && b != '.' && b != '_' && b != '-' {
			return fieldErr("Codec", "byte 0x%02x at %d not allowed", b, i)
		}
	}
	return nil
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// checkText checks optional human text: UTF-8, no control characters.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "%d bytes, at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fieldErr(field, "control character %U", r)
		}
	}
	return nil
}

// encoder appends payload fields.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)     { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16)   { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) raw(v []byte)   { e.b = append(e.b, v...) }
func (e *encoder) bytes(v []byte) { e.b = binary.AppendUvarint(e.b, uint64(len(v))); e.raw(v) }
func (e *encoder) str(s string)   { e.bytes([]byte(s)) }

func (e *encoder) header(typ uint8, id CallID, t time.Time) {
	e.u8(payloadVersion)
	e.u8(typ)
	e.raw(id[:])
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(t.UnixMilli()))
}

func (e *encoder) session(ufrag, pwd string, media []MediaDesc) {
	e.str(ufrag)
	e.str(pwd)
	e.b = binary.AppendUvarint(e.b, uint64(len(media)))
	for _, m := range media {
		e.u8(wireCode(kindCodes, m.Kind))
		e.str(m.Codec)
		e.u32(m.ClockRate)
		e.u16(m.Channels)
		e.u8(m.PayloadType)
		e.u32(m.SSRC)
	}
}

func encodeOffer(o *Offer) []byte {
	e := &encoder{b: make([]byte, 0, 2048+len(o.AccountCert)+len(o.DeviceCert))}
	e.header(msgOffer, o.CallID, o.Time)
	e.raw(o.From[:])
	e.raw(o.To[:])
	e.bytes(o.AccountCert)
	e.bytes(o.DeviceCert)
	e.raw(o.X25519)
	e.raw(o.MLKEMEncapKey)
	e.raw(o.SASCommit[:])
	e.session(o.ICEUfrag, o.ICEPwd, o.Media)
	e.raw(o.Conference[:])
	return e.b
}

func encodeAnswer(a *Answer) []byte {
	e := &encoder{b: make([]byte, 0, 2048+len(a.AccountCert)+len(a.DeviceCert))}
	e.header(msgAnswer, a.CallID, a.Time)
	e.raw(a.OfferHash[:])
	e.bytes(a.AccountCert)
	e.bytes(a.DeviceCert)
	e.raw(a.X25519)
	e.raw(a.MLKEMCiphertext)
	e.session(a.ICEUfrag, a.ICEPwd, a.Media)
	return e.b
}

func encodeControl(c *Control) []byte {
	e := &encoder{}
	e.header(msgControl, c.CallID, c.Time)
	e.u8(wireCode(controlCodes, c.Type))
	e.str(c.Reason)
	switch c.Type {
	case ControlCandidate:
		e.str(c.Candidate)
	case ControlError:
		e.u16(uint16(c.Code))
	case ControlConfirm:
		e.raw(c.SASNonce[:])
	}
	return e.b
}

// decoder reads payload fields and records the first error, which always
// wraps ErrMalformed.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

func (d *decoder) failf(format string, args ...any) { d.fail(fmt.Errorf(format, args...)) }

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.failf("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// fixed reads exactly len(dst) bytes into dst.
func (d *decoder) fixed(dst []byte) { copy(dst, d.next(len(dst))) }

func (d *decoder) u8() uint8 {
	if v := d.next(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.next(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.next(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// uvarint reads a minimally encoded uvarint no larger than limit.
func (d *decoder) uvarint(limit int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	switch {
	case k <= 0:
		d.failf("bad varint")
	case k != len(binary.AppendUvarint(nil, n)):
		d.failf("non-minimal varint")
	case n > uint64(limit):
		d.failf("length or count %d > %d", n, limit)
	}
	if d.err != nil {
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

// bytes reads a length-prefixed field of at most limit bytes and copies it.
func (d *decoder) bytes(limit int) []byte { return bytes.Clone(d.next(d.uvarint(limit))) }

func (d *decoder) str(limit int) string { return string(d.next(d.uvarint(limit))) }

// header reads version, type, call ID and time, refusing other versions and
// types.
func (d *decoder) header(typ uint8) (CallID, time.Time) {
	var id CallID
	if v := d.u8(); d.err == nil && v != payloadVersion {
		d.failf("payload version %d, want %d", v, payloadVersion)
	}
	if t := d.u8(); d.err == nil && t != typ {
		d.err = fmt.Errorf("%w: payload type %d, want %d", ErrWrongMessageType, t, typ)
	}
	d.fixed(id[:])
	v := d.next(8)
	if d.err != nil {
		return id, time.Time{}
	}
	return id, time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC()
}

func (d *decoder) session() (ufrag, pwd string, media []MediaDesc) {
	ufrag = d.str(MaxICELen)
	pwd = d.str(MaxICELen)
	n := d.uvarint(MaxMedia)
	for range n {
		m := MediaDesc{}
		if m.Kind = codeName(kindCodes, d.u8()); m.Kind == "" && d.err == nil {
			d.failf("unknown media kind")
		}
		m.Codec = d.str(MaxCodecLen)
		m.ClockRate = d.u32()
		m.Channels = d.u16()
		m.PayloadType = d.u8()
		m.SSRC = d.u32()
		media = append(media, m)
	}
	return ufrag, pwd, media
}

// finish checks that nothing follows, that the decoded message is valid
// and that it re-encodes to the payload (one encoding per message).
func (d *decoder) finish(validate func() error, reencode func() []byte, payload []byte) error {
	if d.err == nil && len(d.b) != 0 {
		d.failf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	if err := validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !bytes.Equal(reencode(), payload) {
		return fmt.Errorf("%w: payload is not in canonical form", ErrMalformed)
	}
	return nil
}

func decodeOffer(payload []byte) (*Offer, error) {
	d := &decoder{b: payload}
	o := &Offer{}
	o.CallID, o.Time = d.header(msgOffer)
	d.fixed(o.From[:])
	d.fixed(o.To[:])
	o.AccountCert = d.bytes(MaxCertSize)
	o.DeviceCert = d.bytes(MaxCertSize)
	o.X25519 = bytes.Clone(d.next(X25519Size))
	o.MLKEMEncapKey = bytes.Clone(d.next(mlkem.EncapsulationKeySize768))
	d.fixed(o.SASCommit[:])
	o.ICEUfrag, o.ICEPwd, o.Media = d.session()
	d.fixed(o.Conference[:])
	if err := d.finish(o.validate, func() []byte { return encodeOffer(o) }, payload); err != nil {
		return nil, err
	}
	return o, nil
}

func decodeAnswer(payload []byte) (*Answer, error) {
	d := &decoder{b: payload}
	a := &Answer{}
	a.CallID, a.Time = d.header(msgAnswer)
	d.fixed(a.OfferHash[:])
	a.AccountCert = d.bytes(MaxCertSize)
	a.DeviceCert = d.bytes(MaxCertSize)
	a.X25519 = bytes.Clone(d.next(X25519Size))
	a.MLKEMCiphertext = bytes.Clone(d.next(mlkem.CiphertextSize768))
	a.ICEUfrag, a.ICEPwd, a.Media = d.session()
	if err := d.finish(a.validate, func() []byte { return encodeAnswer(a) }, payload); err != nil {
		return nil, err
	}
	return a, nil
}

func decodeControl(payload []byte) (*Control, error) {
	d := &decoder{b: payload}
	c := &Control{}
	c.CallID, c.Time = d.header(msgControl)
	if c.Type = codeName(controlCodes, d.u8()); c.Type == "" && d.err == nil {
		d.failf("unknown control type")
	}
	c.Reason = d.str(MaxReasonLen)
	switch c.Type {
	case ControlCandidate:
		c.Candidate = d.str(MaxCandidateLen)
	case ControlError:
		c.Code = Code(d.u16())
	case ControlConfirm:
		d.fixed(c.SASNonce[:])
	}
	if err := d.finish(c.validate, func() []byte { return encodeControl(c) }, payload); err != nil {
		return nil, err
	}
	return c, nil
}
