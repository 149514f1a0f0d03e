package turnsrv

import "sync/atomic"

// Metrics counts what the server does. All fields are monotonic counters,
// safe to read at any time from any goroutine; the bootstrap exports them.
// One Metrics may be shared by several servers.
type Metrics struct {
	// AuthOK counts authenticated TURN requests (Allocate, Refresh,
	// CreatePermission, ChannelBind, ...), not allocations: a client
	// authenticates every request after the first challenge.
	AuthOK atomic.Uint64

	// AuthFail counts TURN requests refused for their credentials:
	// malformed, too long, expired, wrong realm, or a password that does
	// not match (wrong secret, or another device's username). The normal
	// unauthenticated first request that draws the 401 challenge is not
	// counted.
	AuthFail atomic.Uint64

	// PeerRefused counts peer addresses refused by the private-peer filter
	// in CreatePermission and ChannelBind requests.
	PeerRefused atomic.Uint64

	// QuotaRefused counts Allocate requests refused by Config.Quota.
	QuotaRefused atomic.Uint64

	// Allocations counts allocations created. The number currently active
	// is [Server.AllocationCount].
	Allocations atomic.Uint64

	// FastRelayed counts datagrams the batched data path relayed, in
	// both directions (client to peer and peer to client). Datagrams pion
	// relays (Send and Data indications, TURN over TCP) are not counted.
	FastRelayed atomic.Uint64

	// Dropped counts datagrams the batched data path dropped: from peers
	// without a permission, on a channel whose permission expired, too
	// large, refused by a full socket buffer, or more than the queue to
	// pion holds; and datagrams either path dropped on their way to an
	// address of this server that is not a live relay socket.
	Dropped atomic.Uint64
}
