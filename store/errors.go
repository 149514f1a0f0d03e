package store

import "errors"

// Errors returned by this package. Callers test for them with errors.Is; the
// returned error wraps one of these together with the operation that failed.
var (
	// ErrLocked means another process (usually a second parleyd on the same
	// data dir) holds the lock on the database file and did not release it
	// within Options.Timeout.
	ErrLocked = errors.New("data dir in use")

	// ErrInsecureDir means the data dir is writable by its group or by
	// everyone, so another user could replace the database under us.
	ErrInsecureDir = errors.New("data dir is group- or world-writable")

	// ErrSchemaTooNew means the database file was written by a newer Parley
	// with a schema version this build does not know.
	ErrSchemaTooNew = errors.New("database schema is newer than this build")

	// ErrIdentityExists means CreateIdentity was called on a store that
	// already holds an identity; identities are never overwritten.
	ErrIdentityExists = errors.New("identity already exists")

	// ErrNoIdentity means the store holds no identity yet.
	ErrNoIdentity = errors.New("no identity")

	// ErrPassphraseRequired means the private keys are sealed on disk but
	// the store was opened without a passphrase.
	ErrPassphraseRequired = errors.New("private keys are sealed: passphrase required")

	// ErrStaleCRL means PutCRL was given a CRL whose number is not greater
	// than the number of the stored one.
	ErrStaleCRL = errors.New("CRL is not newer than the stored one")

	// ErrRollback means an account record is older than one accepted
	// before for the same account (see AccountPin).
	ErrRollback = errors.New("account record rolled back")

	// ErrNotFound means the requested record does not exist.
	ErrNotFound = errors.New("not found")

	// ErrAlreadyAdmin is returned by PromoteIdentity on a device that holds
	// the account key already.
	ErrAlreadyAdmin = errors.New("this device is an admin already")

	// ErrInvalid means an argument failed validation: an empty or oversized
	// field, an unknown contact state, a seed of the wrong size.
	ErrInvalid = errors.New("invalid argument")

	// ErrCorrupt means a stored value could not be decoded. The file itself
	// is consistent as far as bbolt is concerned (see Check); the value in it
	// is not one this package wrote.
	ErrCorrupt = errors.New("corrupt record")
)
