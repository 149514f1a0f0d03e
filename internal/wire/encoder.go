package wire

import "encoding/binary"

// An Encoder appends fields to a byte slice, in the encodings the Decoder
// reads. It does not check limits: a message type validates its fields
// before it encodes them. The zero value is ready to use.
type Encoder struct{ b []byte }

// NewEncoder returns an encoder that appends to buf, which may be nil or
// have spare capacity for the message.
func NewEncoder(buf []byte) *Encoder { return &Encoder{b: buf} }

// Data returns the bytes encoded so far.
func (e *Encoder) Data() []byte { return e.b }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.b) }

// Uint8 appends one byte.
func (e *Encoder) Uint8(v uint8) { e.b = append(e.b, v) }

// Uint16 appends a big-endian uint16.
func (e *Encoder) Uint16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }

// Uint32 appends a big-endian uint32.
func (e *Encoder) Uint32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }

// Uint64 appends a big-endian uint64.
func (e *Encoder) Uint64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

// Uvarint appends v as a minimal uvarint.
func (e *Encoder) Uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// Raw appends v as it is (a fixed-size field).
func (e *Encoder) Raw(v []byte) { e.b = append(e.b, v...) }

// Bytes appends the length of v as a uvarint, then v.
func (e *Encoder) Bytes(v []byte) {
	e.Uvarint(uint64(len(v)))
	e.Raw(v)
}

// String appends s like Bytes.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}
