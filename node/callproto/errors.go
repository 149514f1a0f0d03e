package callproto

import "errors"

// Errors returned by this package. Callers test for them with errors.Is. The
// returned error always wraps one of these together with the operation and
// the precise cause; when the cause is a certificate check, the crypto
// package's sentinel (crypto.ErrRevoked, crypto.ErrExpired, ...) is wrapped
// too, so errors.Is finds both.
var (
	// ErrTooLarge means a signed message is longer than MaxMessage.
	ErrTooLarge = errors.New("call message too large")

	// ErrMalformed means a message is not a well-formed signed envelope with
	// a well-formed payload: truncated, trailing bytes, unknown payload
	// version, a length or count out of range, a field value this version
	// does not allow, or an encoding that is not canonical.
	ErrMalformed = errors.New("malformed call message")

	// ErrWrongMessageType means a message was signed for another purpose
	// than the receiver expects, for example an answer presented as an offer
	// (the envelope's signing context or the payload's type differs).
	ErrWrongMessageType = errors.New("wrong call message type")

	// ErrBadSignature means the envelope signature does not verify: the
	// message was forged or modified.
	ErrBadSignature = errors.New("bad call message signature")

	// ErrWrongSigner means a message was signed by a key other than the one
	// it must be signed by: the key of the device certificate it carries
	// (offer, answer) or the device the call is with (control).
	ErrWrongSigner = errors.New("call message signed by the wrong device")

	// ErrUntrustedDevice means the certificate chain in an offer or answer
	// does not prove that the signing device belongs to the account: a
	// certificate that does not parse, a device of another account, an
	// expired or not yet valid certificate, or a revoked device. The
	// crypto package's sentinel for the failed check is wrapped as well.
	ErrUntrustedDevice = errors.New("device not trusted for the account")

	// ErrWrongRecipient means an offer is addressed to another account than
	// the one given with WithRecipient.
	ErrWrongRecipient = errors.New("call offer is for another account")

	// ErrStale means a message's timestamp is more than TimeWindow before
	// the receiver's clock: it is old (perhaps replayed), or the sender's
	// clock is slow.
	ErrStale = errors.New("call message too old")

	// ErrFuture means a message's timestamp is more than TimeWindow after
	// the receiver's clock: one of the two clocks is wrong.
	ErrFuture = errors.New("call message from the future")

	// ErrOfferMismatch means an answer does not answer the given offer: its
	// offer hash or call ID differs.
	ErrOfferMismatch = errors.New("answer does not match the offer")

	// ErrReplay means a call ID was seen before within the replay window
	// (see ReplayCache.Check).
	ErrReplay = errors.New("call offer replayed")

	// ErrInvalidMessage means a message given to SignOffer, SignAnswer or
	// SignControl has a missing or out-of-range field, or certificates that
	// do not belong to the signing device. Nothing was signed.
	ErrInvalidMessage = errors.New("invalid call message")

	// ErrKeyAgreement means a key share from the peer is unusable: an
	// X25519 public key of the wrong size or of low order, or an ML-KEM key
	// or ciphertext of the wrong size or form.
	ErrKeyAgreement = errors.New("key agreement failed")

	// ErrSASCommit means the SAS nonce revealed by the caller does not
	// match the commitment in its offer: someone tried to choose the SAS.
	ErrSASCommit = errors.New("SAS nonce does not match its commitment")

	// ErrWiped means keys were used after Wipe, or a single-use secret
	// (CallerKeys.Finish, CalleeSecrets.Finish, Keys.ConfirmSAS) was used
	// twice.
	ErrWiped = errors.New("call keys already used or wiped")

	// ErrNotContact means the callee refuses calls from accounts that are
	// not its contacts. This package only carries it as an error code; the
	// call layer decides it.
	ErrNotContact = errors.New("caller is not a contact")

	// ErrNoCommonMedia means the callee supports none of the offered media.
	// This package only carries it as an error code.
	ErrNoCommonMedia = errors.New("no common media")

	// ErrPeer means the peer refused or ended the call with an "error"
	// control message; Control.Err wraps it with the sentinel of the code.
	ErrPeer = errors.New("peer reported an error")
)
