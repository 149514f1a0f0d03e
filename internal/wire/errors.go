package wire

import "errors"

// Errors of the decoder and of frame readers and writers. Returned errors
// wrap one of these with the offset or sizes involved.
var (
	// ErrTruncated means the input ended inside a field or a frame.
	ErrTruncated = errors.New("wire: truncated")

	// ErrBadVarint means a uvarint overflows 64 bits.
	ErrBadVarint = errors.New("wire: bad uvarint")

	// ErrNonMinimal means a uvarint is not in its shortest form.
	ErrNonMinimal = errors.New("wire: non-minimal uvarint")

	// ErrTooLong means a length, count or value is above the maximum the
	// format allows for it.
	ErrTooLong = errors.New("wire: length or count too large")

	// ErrTrailing means bytes follow the last field of a message.
	ErrTrailing = errors.New("wire: trailing bytes")

	// ErrNotUTF8 means a text field is not valid UTF-8.
	ErrNotUTF8 = errors.New("wire: text is not UTF-8")

	// ErrFrameTooLarge means a frame's body is longer than the framing's
	// maximum, on reading (from its prefix, before the body is read) or on
	// writing.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrFraming means a Framing is unusable: unknown prefix, no maximum
	// (Max ≤ 0) or a maximum its prefix cannot express. It is a programming
	// error, reported instead of reading or writing without a limit.
	ErrFraming = errors.New("wire: invalid framing")
)
