package callproto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley/crypto"
)

// Code is the reason carried by an "error" control message. Codes are part
// of the wire format: new codes may be added, existing ones never change
// meaning. A receiver accepts any non-zero code; one it does not know maps
// to ErrPeer alone.
type Code uint16

// Error codes.
const (
	// CodeInternal: the peer failed for a reason of its own.
	CodeInternal Code = 1
	// CodeMalformed: ErrMalformed, ErrTooLarge, ErrWrongMessageType.
	CodeMalformed Code = 2
	// CodeUntrusted: ErrBadSignature, ErrWrongSigner, ErrUntrustedDevice
	// (other than revocation).
	CodeUntrusted Code = 3
	// CodeRevoked: the device is revoked (crypto.ErrRevoked).
	CodeRevoked Code = 4
	// CodeStale: ErrStale.
	CodeStale Code = 5
	// CodeFuture: ErrFuture.
	CodeFuture Code = 6
	// CodeReplay: ErrReplay.
	CodeReplay Code = 7
	// CodeOfferMismatch: ErrOfferMismatch.
	CodeOfferMismatch Code = 8
	// CodeKeyAgreement: ErrKeyAgreement, ErrSASCommit.
	CodeKeyAgreement Code = 9
	// CodeNotContact: ErrNotContact.
	CodeNotContact Code = 10
	// CodeNoCommonMedia: ErrNoCommonMedia.
	CodeNoCommonMedia Code = 11
	// CodeWrongRecipient: ErrWrongRecipient.
	CodeWrongRecipient Code = 12
)

// codeErrors maps codes to sentinels, most specific first: CodeOf takes
// the first whose sentinel the error wraps.
var codeErrors = []struct {
	code Code
	err  error
}{
	{CodeRevoked, crypto.ErrRevoked},
	{CodeMalformed, ErrMalformed},
	{CodeMalformed, ErrTooLarge},
	{CodeMalformed, ErrWrongMessageType},
	{CodeUntrusted, ErrBadSignature},
	{CodeUntrusted, ErrWrongSigner},
	{CodeUntrusted, ErrUntrustedDevice},
	{CodeStale, ErrStale},
	{CodeFuture, ErrFuture},
	{CodeReplay, ErrReplay},
	{CodeOfferMismatch, ErrOfferMismatch},
	{CodeKeyAgreement, ErrKeyAgreement},
	{CodeKeyAgreement, ErrSASCommit},
	{CodeNotContact, ErrNotContact},
	{CodeNoCommonMedia, ErrNoCommonMedia},
	{CodeWrongRecipient, ErrWrongRecipient},
}

// CodeOf returns the code to send for err: the code of the first sentinel
// err wraps, or CodeInternal.
func CodeOf(err error) Code {
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			return ce.code
		}
	}
	return CodeInternal
}

// Err returns the sentinel of the code (the first one listed for it), or
// nil for CodeInternal and unknown codes.
func (c Code) Err() error {
	for _, ce := range codeErrors {
		if ce.code == c {
			return ce.err
		}
	}
	return nil
}

// String names the code by its sentinel's text.
func (c Code) String() string {
	if c == CodeInternal {
		return "internal error"
	}
	if err := c.Err(); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("error code %d", uint16(c))
}

// Err returns nil unless c is an "error" control message; then it returns
// an error wrapping ErrPeer and the code's sentinel (so errors.Is(err,
// ErrStale) works on the peer's report), with the peer's reason.
func (c *Control) Err() error {
	if c.Type != ControlError {
		return nil
	}
	reason := ""
	if c.Reason != "" {
		reason = ": " + c.Reason
	}
	if s := c.Code.Err(); s != nil {
		// The peer's reason usually starts with the code's own text
		// ("caller is not a contact: …"): say it once.
		if r, ok := strings.CutPrefix(c.Reason, s.Error()); ok {
			reason = r
		}
		return fmt.Errorf("%w: %w%s", ErrPeer, s, reason)
	}
	return fmt.Errorf("%w: %v%s", ErrPeer, c.Code, reason)
}
