package link

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/node/service"
)

// Errors of linking devices. The wrapping error says why, in words a user can act
// on; both devices of a failed link attempt show it.
var (
	// ErrLinkExpired means the link code's lifetime (5 minutes by default)
	// has passed.
	ErrLinkExpired = errors.New("link code expired")
	// ErrLinkUsed means the link code already linked a device; codes work
	// once.
	ErrLinkUsed = errors.New("link code already used")
	// ErrLinkInUse means another approving device holds a link session for
	// the same code right now.
	ErrLinkInUse = errors.New("link code in use by another approving device")
	// ErrLinkAttempts means the new device gave up after too many failed
	// attempts (3 by default); start again with a new code.
	ErrLinkAttempts = errors.New("too many failed link attempts")
	// ErrLinkProof means the approving device could not prove it knows the
	// code's secret (a mistyped or forged code).
	ErrLinkProof = errors.New("link code secret does not match")
	// ErrLinkSAS means the short authentication string was not confirmed on
	// the approving device (wrong digits typed, or the user said no).
	ErrLinkSAS = errors.New("SAS not confirmed")
	// ErrLinkRefused means the other device refused or broke off a link
	// session for another reason, given in the wrapping error.
	ErrLinkRefused = errors.New("link refused")
	// ErrLinkUnreachable means the approving device could not connect to
	// the new device named in the code.
	ErrLinkUnreachable = errors.New("cannot reach the new device")
	// ErrNoLinkSession means a link session ID is unknown (finished, timed
	// out, or never started).
	ErrNoLinkSession = errors.New("no such link session")
	// ErrLinkWrongAccount means the approving device is of another account
	// than the new device was told to expect (--account).
	ErrLinkWrongAccount = errors.New("link approved by another account")
)

// linkErrors maps the error codes of link messages to sentinels and back.
var linkErrors = map[string]error{
	linkCodeExpired:  ErrLinkExpired,
	linkCodeUsed:     ErrLinkUsed,
	linkCodeBusy:     ErrLinkInUse,
	linkCodeAttempts: ErrLinkAttempts,
	linkCodeProof:    ErrLinkProof,
	linkCodeSAS:      ErrLinkSAS,
	linkCodeAccount:  ErrLinkWrongAccount,
}

// linkErrorCode is the wire code for err.
func linkErrorCode(err error) string {
	for code, e := range linkErrors {
		if errors.Is(err, e) {
			return code
		}
	}
	if errors.Is(err, service.ErrInvalidInput) {
		return linkCodeInvalid
	}
	return linkCodeInternal
}

// linkErrorFrom turns a received error message into an error wrapping the
// matching sentinel (ErrLinkRefused when none matches).
func linkErrorFrom(code, reason string) error {
	if e, ok := linkErrors[code]; ok {
		return fmt.Errorf("%w: %s", e, reason)
	}
	return fmt.Errorf("%w (%s): %s", ErrLinkRefused, code, reason)
}
