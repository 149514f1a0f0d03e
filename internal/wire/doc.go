// Package wire is Parley's one binary codec: a length-checked [Decoder] and
// an [Encoder] for the fields Parley's binary messages are made of, and one
// frame reader and writer ([Framing]) for messages on streams. Protocol
// packages (callproto, records, turncred and the node's stream protocols)
// describe their formats in these terms instead of parsing bytes by hand.
//
// # Fields
//
// Fixed-size integers are big-endian. A uvarint is an unsigned LEB128
// varint (encoding/binary) in its shortest form; the decoder refuses a
// longer form, so every value has exactly one encoding.
//
//	field       bytes   encoding                       example
//	Uint8       1                                      7      → 07
//	Uint16      2       big-endian                     0x1234 → 12 34
//	Uint32      4       big-endian
//	Uint64      8       big-endian
//	Uvarint     1..10   minimal LEB128, ≤ max          127    → 7f
//	                                                   128    → 80 01
//	Raw(n)      n       n fixed by the format
//	Bytes/String        uvarint len ‖ len bytes,       "hi"   → 02 68 69
//	                    len ≤ max
//	Text                as String, and valid UTF-8
//
// Every variable-length field and every count is read with an explicit
// maximum, so a decoder never trusts a length it has not bounded. The
// [Decoder] keeps the first error and turns every later read into a no-op
// returning a zero value, so a parser reads all its fields and checks once,
// with [Decoder.Finish], which also fails if any byte follows the last
// field. Errors wrap this package's sentinels (ErrTruncated, ErrTooLong,
// ...) and name the offset; protocol packages wrap them again with their own
// "malformed" sentinel.
//
// # Frames
//
// A frame is one message on a stream, preceded by its length:
//
//	+----------------------+---------------------------+
//	| length prefix        | body: length bytes        |
//	+----------------------+---------------------------+
//	  PrefixUvarint: minimal uvarint, 1..10 bytes
//	  PrefixUint16:  2 bytes big-endian
//	  PrefixUint32:  4 bytes big-endian
//
// e.g. the body "hello" in uvarint framing is 05 68 65 6c 6c 6f.
//
// Every [Framing] has a mandatory maximum body length. A reader refuses a
// longer frame with ErrFrameTooLarge as soon as it has read the prefix,
// before it allocates anything; a body that may be large is allocated as its
// bytes arrive, not as its prefix claims. A writer refuses to send a body
// its reader would refuse.
package wire
