package account

import "errors"

// ErrIdentityExists is returned when init or restore would overwrite the
// identity already held by a data directory.
var ErrIdentityExists = errors.New("data dir already holds an identity")

// ErrInvalidInput is returned for input that fails validation (too long,
// malformed); the wrapping error says which field and why. It is the
// bottom of the service chain, so every service (and the local API, which
// maps it to 400) uses this one value, also as service.ErrInvalidInput.
var ErrInvalidInput = errors.New("invalid input")

// ErrNotAdmin is returned when a member device is asked to do what only an
// admin device (one holding the account key) can: link or promote a
// device, revoke one, sign the account record or a CRL, export the
// account. The message names the admin devices that can.
var ErrNotAdmin = errors.New("only an admin device can do this")
