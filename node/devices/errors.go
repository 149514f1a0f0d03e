package devices

import "errors"

// Errors of the account's device list. The wrapping error says why, in
// words a user can act on.
var (
	// ErrDeviceRevoked means this device is on the account's revocation list
	// and may no longer act for the account (approve links, revoke, sync).
	ErrDeviceRevoked = errors.New("this device has been revoked")
	// ErrUnknownDevice means a device is not one of the account's devices as
	// this device knows them.
	ErrUnknownDevice = errors.New("not a device of this account")
)
