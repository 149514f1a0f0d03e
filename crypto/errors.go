package crypto

import "errors"

// Errors returned by this package. Callers test for them with errors.Is; the
// returned error always wraps one of these together with the operation that
// failed and, where useful, the precise cause.
var (
	// ErrInvalidID means a text account or device ID could not be parsed:
	// wrong length, a character outside the alphabet, or a failed checksum.
	// For a user it almost always means a typo in a copied ID.
	ErrInvalidID = errors.New("invalid ID")

	// ErrInvalidKey means a key or seed has the wrong size or type.
	ErrInvalidKey = errors.New("invalid key")

	// ErrWeakKey means an Ed25519 public key from outside was refused by
	// CheckPublicKey: a point of small order (under which a forged
	// signature verifies for any message), a non-canonical encoding (a
	// second spelling, so a second ID, of another key), or not a point of
	// the curve at all.
	ErrWeakKey = errors.New("unsafe Ed25519 public key")

	// ErrInvalidKDFParams means argon2id parameters are outside the bounds
	// this package accepts (see MaxKDFMemoryKiB, MaxKDFTime).
	ErrInvalidKDFParams = errors.New("invalid key derivation parameters")

	// ErrWrongPassphrase means the passphrase verifier stored in a sealed
	// file or archive did not match the passphrase given. Because the
	// verifier depends on the salt and the KDF parameters, damage to those
	// header fields reads the same way.
	ErrWrongPassphrase = errors.New("wrong passphrase")

	// ErrCorrupt means a sealed file or archive was truncated, modified or
	// damaged: the passphrase was right but the contents fail to
	// authenticate or do not make sense.
	ErrCorrupt = errors.New("the file was modified or damaged")

	// ErrUnsupportedVersion means a sealed file, archive or envelope uses a
	// format version this build does not know (probably made by a newer
	// Parley).
	ErrUnsupportedVersion = errors.New("unsupported format version")

	// ErrInvalidCert means a certificate is not a well-formed Parley account
	// or device certificate (wrong key type, missing fields, bad
	// self-signature, ...).
	ErrInvalidCert = errors.New("invalid certificate")

	// ErrInvalidName means a display name is too long (over 64 bytes), is
	// not UTF-8, or contains control characters.
	ErrInvalidName = errors.New("invalid name")

	// ErrInvalidCRL means a revocation list is not a well-formed Parley CRL.
	ErrInvalidCRL = errors.New("invalid revocation list")

	// ErrWrongAccount means a certificate or CRL belongs to an account other
	// than the one expected.
	ErrWrongAccount = errors.New("wrong account")

	// ErrWrongDevice means a device certificate names a device ID that does
	// not belong to its public key, or a different device than expected.
	ErrWrongDevice = errors.New("wrong device")

	// ErrBadSignature means a signature did not verify: the data was forged,
	// modified, signed by another key, or signed for another purpose
	// (signing context).
	ErrBadSignature = errors.New("bad signature")

	// ErrExpired means a certificate's validity period has ended.
	ErrExpired = errors.New("certificate expired")

	// ErrNotYetValid means a certificate's validity period has not started
	// (often a wrong clock on one of the two machines).
	ErrNotYetValid = errors.New("certificate not yet valid")

	// ErrRevoked means the account has revoked this device.
	ErrRevoked = errors.New("device revoked")

	// ErrInvalidContext means a signing context string is empty or longer
	// than 255 bytes.
	ErrInvalidContext = errors.New("invalid signing context")

	// ErrWrongContext means a signed envelope was made for a different
	// purpose (signing context) than the one the receiver expects.
	ErrWrongContext = errors.New("wrong signing context")

	// ErrMalformed means a binary message (such as a signed envelope) is
	// truncated, has trailing bytes, or has out-of-range lengths.
	ErrMalformed = errors.New("malformed message")
)
