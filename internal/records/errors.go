package records

import "errors"

// Errors returned by the parsers and validators of this package. Each
// rejection reason has its own sentinel; the returned error wraps it
// together with the operation and the precise cause (often a crypto error,
// which errors.Is also finds).
var (
	// ErrTooLarge means a record is larger than MaxAccountRecordSize or
	// MaxPresenceRecordSize.
	ErrTooLarge = errors.New("record too large")

	// ErrMalformed means a record is not a well-formed signed envelope with
	// a well-formed payload: truncated, trailing bytes, unknown version,
	// wrong signing context, a certificate or address that does not parse,
	// a duplicate device.
	ErrMalformed = errors.New("malformed record")

	// ErrBadSignature means the envelope signature does not verify.
	ErrBadSignature = errors.New("bad record signature")

	// ErrBadKey means a DHT key is not in this package's namespaces or does
	// not hold a well-formed account or device ID.
	ErrBadKey = errors.New("bad record key")

	// ErrWrongSigner means the record was signed by a key other than the one
	// the DHT key names (the account ID or device ID of the signer differs).
	ErrWrongSigner = errors.New("record signer does not match its key")

	// ErrCertKeyMismatch means an account record's account certificate holds
	// a key other than the record's signer.
	ErrCertKeyMismatch = errors.New("account certificate key is not the signer")

	// ErrBadDevice means a device certificate in an account record is not a
	// valid certificate of that account at this time (crypto.VerifyDevice
	// failed: not issued by the account, bad signature, expired, ...).
	ErrBadDevice = errors.New("device certificate not valid for the account")

	// ErrDeviceRevoked means an account record lists a device that its own
	// CRL revokes. Revoked devices may stay on the CRL but not in Devices.
	ErrDeviceRevoked = errors.New("account record lists a revoked device")

	// ErrBadCRL means an account record's CRL was not issued and signed by
	// the account.
	ErrBadCRL = errors.New("revocation list not issued by the account")

	// ErrTooManyDevices means an account record lists more than MaxDevices
	// devices.
	ErrTooManyDevices = errors.New("too many devices in account record")

	// ErrTooManyAddrs means a presence record has more than MaxAddrs
	// addresses.
	ErrTooManyAddrs = errors.New("too many addresses in presence record")

	// ErrExpired means the record's expiry is not after now.
	ErrExpired = errors.New("record expired")

	// ErrExpiryTooFar means the record expires later than now + MaxTTL
	// (plus ClockSkew).
	ErrExpiryTooFar = errors.New("record expiry too far in the future")

	// ErrSeqTooFar means the record's sequence number is further ahead of
	// the validator's clock (in Unix milliseconds) than ClockSkew.
	ErrSeqTooFar = errors.New("record sequence number ahead of the clock")

	// ErrBadPeriod means a blinded record names a period that has not
	// started and does not start within PeriodOverlap (plus ClockSkew), or
	// not the period the reader looked up.
	ErrBadPeriod = errors.New("blinded record of the wrong period")

	// ErrBoxOpen means a blinded record's box does not open with the key
	// the reader derived (the record was made for another account, device,
	// presence key or period, or was altered), or what it holds is not a
	// padded record.
	ErrBoxOpen = errors.New("blinded record does not open")

	// ErrNoValidRecord means Select was given no valid record.
	ErrNoValidRecord = errors.New("no valid record")

	// ErrBadTTL means NewAccount or NewPresence was asked for a TTL that is
	// not positive or longer than MaxTTL.
	ErrBadTTL = errors.New("record TTL out of range")
)
