package bootstrap

import "errors"

// Errors returned by this package. The returned errors wrap them with the
// operation and detail.
var (
	// ErrConfig means the Config is invalid: a missing data directory, an
	// address that does not parse, a bad relay limit, ...
	ErrConfig = errors.New("invalid bootstrap configuration")

	// ErrInsecureKeyFile means the key or secret file in the data
	// directory can be read by other users (group or world permissions).
	ErrInsecureKeyFile = errors.New("key file readable by other users")

	// ErrNoRelayIP means TURN is enabled but no public relay IP was given
	// and none could be found on the machine's interfaces.
	ErrNoRelayIP = errors.New("no TURN relay IP: set TURN.RelayIP")

	// ErrClosed means the Server was closed.
	ErrClosed = errors.New("bootstrap server closed")

	// ErrAlreadyRunning means Run was called while the Server was running.
	ErrAlreadyRunning = errors.New("bootstrap server already running")
)
