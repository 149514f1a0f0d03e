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
