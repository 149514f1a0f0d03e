package callproto

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/internal/wire"
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
	controlCodes = []ControlType{
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
		11: ControlICERestart,
		12: ControlICERestartReply,
	}
)

// wireCode returns the index of name in codes, or 0.
func wireCode[T ~string](codes []T, name T) uint8 {
	for i, c := range codes {
		if i > 0 && c == name {
			return uint8(i)
		}
	}
	return 0
}

// codeName returns the name of a wire code, or "" for an unknown code.
func codeName[T ~string](codes []T, code uint8) T {
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
	case c.Type.IsICERestart() != (c.Generation != 0):
		return fieldErr("Generation", "set exactly for types %q and %q", ControlICERestart, ControlICERestartReply)
	case !c.Type.IsICERestart() && (c.ICEUfrag != "" || c.ICEPwd != ""):
		return fieldErr("ICEUfrag", "set only for types %q and %q", ControlICERestart, ControlICERestartReply)
	}
	if c.Type.IsICERestart() {
		if err := checkICE("ICEUfrag", c.ICEUfrag, 4); err != nil {
			return err
		}
		if err := checkICE("ICEPwd", c.ICEPwd, 22); err != nil {
			return err
		}
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

// encodeHeader appends version, type, call ID and time.
func encodeHeader(e *wire.Encoder, typ uint8, id CallID, t time.Time) {
	e.Uint8(payloadVersion)
	e.Uint8(typ)
	e.Raw(id[:])
	e.Uint64(uint64(t.UnixMilli()))
}

func encodeSession(e *wire.Encoder, ufrag, pwd string, media []MediaDesc) {
	e.String(ufrag)
	e.String(pwd)
	e.Uvarint(uint64(len(media)))
	for _, m := range media {
		e.Uint8(wireCode(kindCodes, m.Kind))
		e.String(m.Codec)
		e.Uint32(m.ClockRate)
		e.Uint16(m.Channels)
		e.Uint8(m.PayloadType)
		e.Uint32(m.SSRC)
	}
}

func encodeOffer(o *Offer) []byte {
	e := wire.NewEncoder(make([]byte, 0, 2048+len(o.AccountCert)+len(o.DeviceCert)))
	encodeHeader(e, msgOffer, o.CallID, o.Time)
	e.Raw(o.From[:])
	e.Raw(o.To[:])
	e.Bytes(o.AccountCert)
	e.Bytes(o.DeviceCert)
	e.Raw(o.X25519)
	e.Raw(o.MLKEMEncapKey)
	e.Raw(o.SASCommit[:])
	encodeSession(e, o.ICEUfrag, o.ICEPwd, o.Media)
	e.Raw(o.Conference[:])
	return e.Data()
}

func encodeAnswer(a *Answer) []byte {
	e := wire.NewEncoder(make([]byte, 0, 2048+len(a.AccountCert)+len(a.DeviceCert)))
	encodeHeader(e, msgAnswer, a.CallID, a.Time)
	e.Raw(a.OfferHash[:])
	e.Bytes(a.AccountCert)
	e.Bytes(a.DeviceCert)
	e.Raw(a.X25519)
	e.Raw(a.MLKEMCiphertext)
	encodeSession(e, a.ICEUfrag, a.ICEPwd, a.Media)
	return e.Data()
}

func encodeControl(c *Control) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, msgControl, c.CallID, c.Time)
	e.Uint8(wireCode(controlCodes, c.Type))
	e.String(c.Reason)
	switch c.Type {
	case ControlCandidate:
		e.String(c.Candidate)
	case ControlError:
		e.Uint16(uint16(c.Code))
	case ControlConfirm:
		e.Raw(c.SASNonce[:])
	case ControlICERestart, ControlICERestartReply:
		e.String(c.ICEUfrag)
		e.String(c.ICEPwd)
		e.Uint32(c.Generation)
	}
	return e.Data()
}

// decodeHeader reads version, type, call ID and time, refusing other
// versions and types (a wrong type is ErrWrongMessageType, not malformed).
func decodeHeader(d *wire.Decoder, typ uint8) (CallID, time.Time) {
	var id CallID
	if v := d.Uint8(); d.Err() == nil && v != payloadVersion {
		d.Fail(fmt.Errorf("payload version %d, want %d", v, payloadVersion))
	}
	if t := d.Uint8(); d.Err() == nil && t != typ {
		d.Fail(fmt.Errorf("%w: payload type %d, want %d", ErrWrongMessageType, t, typ))
	}
	d.Fill(id[:])
	ms := d.Uint64()
	if d.Err() != nil {
		return id, time.Time{}
	}
	return id, time.UnixMilli(int64(ms)).UTC()
}

func decodeSession(d *wire.Decoder) (ufrag, pwd string, media []MediaDesc) {
	ufrag = d.String(MaxICELen)
	pwd = d.String(MaxICELen)
	n := d.Count(MaxMedia)
	for range n {
		m := MediaDesc{}
		if m.Kind = codeName(kindCodes, d.Uint8()); m.Kind == "" && d.Err() == nil {
			d.Fail(errors.New("unknown media kind"))
		}
		m.Codec = d.String(MaxCodecLen)
		m.ClockRate = d.Uint32()
		m.Channels = d.Uint16()
		m.PayloadType = d.Uint8()
		m.SSRC = d.Uint32()
		media = append(media, m)
	}
	return ufrag, pwd, media
}

// decodeFinish checks that nothing follows, that the decoded message is
// valid and that it re-encodes to the payload (one encoding per message).
// Its errors wrap ErrMalformed, except a wrong message type.
func decodeFinish(d *wire.Decoder, validate func() error, reencode func() []byte, payload []byte) error {
	if err := d.Finish(); err != nil {
		if errors.Is(err, ErrWrongMessageType) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
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
	d := wire.NewDecoder(payload)
	o := &Offer{}
	o.CallID, o.Time = decodeHeader(d, msgOffer)
	d.Fill(o.From[:])
	d.Fill(o.To[:])
	o.AccountCert = bytes.Clone(d.Bytes(MaxCertSize))
	o.DeviceCert = bytes.Clone(d.Bytes(MaxCertSize))
	o.X25519 = bytes.Clone(d.Raw(X25519Size))
	o.MLKEMEncapKey = bytes.Clone(d.Raw(mlkem.EncapsulationKeySize768))
	d.Fill(o.SASCommit[:])
	o.ICEUfrag, o.ICEPwd, o.Media = decodeSession(d)
	d.Fill(o.Conference[:])
	if err := decodeFinish(d, o.validate, func() []byte { return encodeOffer(o) }, payload); err != nil {
		return nil, err
	}
	return o, nil
}

func decodeAnswer(payload []byte) (*Answer, error) {
	d := wire.NewDecoder(payload)
	a := &Answer{}
	a.CallID, a.Time = decodeHeader(d, msgAnswer)
	d.Fill(a.OfferHash[:])
	a.AccountCert = bytes.Clone(d.Bytes(MaxCertSize))
	a.DeviceCert = bytes.Clone(d.Bytes(MaxCertSize))
	a.X25519 = bytes.Clone(d.Raw(X25519Size))
	a.MLKEMCiphertext = bytes.Clone(d.Raw(mlkem.CiphertextSize768))
	a.ICEUfrag, a.ICEPwd, a.Media = decodeSession(d)
	if err := decodeFinish(d, a.validate, func() []byte { return encodeAnswer(a) }, payload); err != nil {
		return nil, err
	}
	return a, nil
}

func decodeControl(payload []byte) (*Control, error) {
	d := wire.NewDecoder(payload)
	c := &Control{}
	c.CallID, c.Time = decodeHeader(d, msgControl)
	if c.Type = codeName(controlCodes, d.Uint8()); c.Type == "" && d.Err() == nil {
		d.Fail(errors.New("unknown control type"))
	}
	c.Reason = d.String(MaxReasonLen)
	switch c.Type {
	case ControlCandidate:
		c.Candidate = d.String(MaxCandidateLen)
	case ControlError:
		c.Code = Code(d.Uint16())
	case ControlConfirm:
		d.Fill(c.SASNonce[:])
	case ControlICERestart, ControlICERestartReply:
		c.ICEUfrag = d.String(MaxICELen)
		c.ICEPwd = d.String(MaxICELen)
		c.Generation = d.Uint32()
	}
	if err := decodeFinish(d, c.validate, func() []byte { return encodeControl(c) }, payload); err != nil {
		return nil, err
	}
	return c, nil
}
