package service

import (
	"errors"

	"github.com/parleyhq/parley/node/account"
)

// ErrInvalidInput is returned for input that fails validation (too long,
// malformed); the wrapping error says which field and why. It is
// account.ErrInvalidInput, named here for the services above account.
var ErrInvalidInput = account.ErrInvalidInput

// ErrConflict is returned for an operation the current state of what it
// acts on does not allow (accepting a contact request that was never
// received, promoting a device that is an admin already, say); the
// wrapping error says what state it is in.
var ErrConflict = errors.New("not allowed now")
