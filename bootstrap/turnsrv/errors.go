package turnsrv

import "errors"

// ErrSecretTooShort is returned by [New] when [Config.Secret] is missing or
// shorter than [MinSecretLen] bytes.
var ErrSecretTooShort = errors.New("shared secret too short")

// ErrNoRelayIP is returned by [New] when [Config.RelayIP] is missing or is
// not a usable unicast address.
var ErrNoRelayIP = errors.New("relay IP missing or invalid")

// ErrNoSockets is returned by [New] when neither [Config.PacketConns] nor
// [Config.Listeners] holds a socket.
var ErrNoSockets = errors.New("no sockets to serve on")

// ErrNilSocket is returned by [New] when [Config.PacketConns] or
// [Config.Listeners] holds a nil entry.
var ErrNilSocket = errors.New("nil socket in config")

// ErrCredentialExpired is the reason logged when a client presents a
// credential whose expiry has passed.
var ErrCredentialExpired = errors.New("credential expired")

// ErrCredentialRevoked is the reason logged when a client presents a
// credential whose token [Tokens.Revoke] marked revoked.
var ErrCredentialRevoked = errors.New("credential revoked")

// ErrRealmMismatch is the reason logged when a client authenticates against
// a realm other than the server's.
var ErrRealmMismatch = errors.New("realm mismatch")

// ErrTCPRelayRefused is the reason a TCP relay allocation (RFC 6062) is
// refused: the server relays UDP only.
var ErrTCPRelayRefused = errors.New("TCP relay allocations are not offered")

// ErrBadQuota is returned by [New] for a negative field in [Config.Quota].
var ErrBadQuota = errors.New("negative allocation quota")
