// Package turnsrv is Parley's STUN and TURN server for the bootstrap
// servers. It is built on github.com/pion/turn/v5, which handles STUN and
// TURN requests and the allocations' state, and on Linux it relays
// ChannelData on a batched data path of its own (see "Data path" below), so
// it is more than a configuration of pion.
//
// Like pion's examples, the server opens no sockets of its own: the caller
// creates the UDP sockets and TCP listeners and passes them in
// [Config.PacketConns] and [Config.Listeners]; from then on the server owns
// them and closes them in [Server.Close]. STUN Binding requests are answered
// on the same sockets without authentication, so one port serves both STUN
// and TURN, over UDP and over TCP. Relayed transport addresses are always
// UDP: a client may reach the server over TCP, but TCP relay allocations
// (RFC 6062) are refused, because Parley's media is UDP and TCP relays would
// let any client open TCP connections to any public host.
//
// # Data path
//
// pion/turn handles every STUN and TURN request. On Linux the server
// relays the ChannelData itself, in batches, below pion (see fastpath.go
// for the design): per UDP socket one goroutine serves that socket and the
// relay sockets of its allocations through an epoll set of its own, and
// moves datagrams with recvmmsg and sendmmsg without allocating. It relays only
// what pion permits, learning permissions and channel bindings from pion's
// event callbacks. [Config.PionDataPath] turns it off; it is always off
// for TURN over TCP and on other platforms. [Metrics] counts what it
// relayed and dropped.
//
// # Credentials
//
// TURN uses short-lived credentials in the form of the TURN REST API
// (draft-uberti-behave-turn-rest-00), the same form coturn accepts with
// use-auth-secret:
//
//	username = "<expiry>:<token>"
//	password = base64(HMAC-SHA1(secret, username))
//
// expiry is a Unix time in seconds written in canonical decimal (no sign,
// no leading zeros); token is opaque printable ASCII without spaces: the
// bootstrap makes it random for every credential ([Tokens.Issue]), so
// that the username, which STUN sends in clear, names neither the device
// nor its account. The whole username is at most 256 bytes. The form is
// defined, parsed and formatted by package internal/turncred, which the
// nodes share. The bootstrap issues credentials with [Credentials] over an
// authenticated libp2p protocol (package bootstrap/turncred). The server
// checks them with the secret alone; [Config.Tokens], the issuer's table
// of which device each token went to, lets it count allocations per
// device (a token it does not hold is its own quota user) and refuse the
// tokens of a device the issuer found revoked.
// A credential is refused once its expiry has passed, also for Refresh,
// CreatePermission and ChannelBind on an allocation that already exists, so
// the TTL given to clients must cover a whole call (coturn behaves the same
// way). A client reads the expiry back with turncred.ParseUsername to know
// when to ask for new credentials.
//
// The shared secret is at least 16 bytes and must be the same on every
// bootstrap that issues or checks credentials. It is never logged.
//
// # Using coturn instead
//
// An operator may run coturn in place of this server. The credentials the
// bootstrap issues stay valid as long as coturn is configured with the same
// secret and realm:
//
//	use-auth-secret
//	static-auth-secret=<same secret as the bootstrap>
//	realm=parley
//
// coturn's static-auth-secret is a string, so the secret should be printable
// (for example the hex or base64 text of random bytes, used as is, not
// decoded). To keep the relay out of the operator's own network as this
// server does (see below), also set no-loopback-peers, no-multicast-peers and
// denied-peer-ip lines for the private ranges.
//
// # Peer filter
//
// Unless [Config.AllowPrivatePeers] is set, CreatePermission and
// ChannelBind (and so Send and ChannelData, which need a permission) are
// refused for peers in loopback (127.0.0.0/8, ::1), "this network"
// (0.0.0.0/8, ::), RFC 1918 private (10/8, 172.16/12, 192.168/16), shared
// address space (100.64.0.0/10, carrier-grade NAT, RFC 6598, unless
// [Config.AllowCGNATPeers]), unique local (fc00::/7), deprecated site-local
// (fec0::/10), link-local (169.254/16, fe80::/10), multicast (224/4,
// ff00::/8) and reserved (240/4, including broadcast) addresses.
// IPv4-mapped IPv6 addresses and the NAT64 well-known prefix 64:ff9b::/96
// are judged by the IPv4 address they carry, and the local-use NAT64 prefix
// 64:ff9b:1::/48 is refused. Without this filter an authenticated client
// could use the relay as an open door into the network the TURN server sits
// in, a well-known TURN abuse. Shared address space is refused too because
// on hosts in a Tailscale tailnet or some cloud providers' networks it is
// the operator's own network. (Parley's NAT lab does not need it: its
// internet is 5.0.0.0/16, test/natlab.InternetPrefix, because libp2p counts
// 100.64.0.0/10 as private.)
//
// The server's own addresses (those of the machine's interfaces, read at
// [New], the relay, bind and socket addresses, and [Config.ServerAddrs])
// are refused as well, unless [Config.AllowServerPeers]: a client relaying
// to them would reach whatever else listens on the server, from the server
// itself. There is one exception: the ports of the server's own live relay
// sockets at the relay address (at every address of the server when relay
// sockets are bound to the wildcard). Two clients of one server relaying to
// each other, as two devices behind NATs that both need TURN do, send to
// each other's relayed address, which is the server's. Permissions are per
// IP address, so the permission for the relay address is granted and every
// datagram is checked instead: the batched data path for ChannelData on a
// channel to the server's address, and a wrapper around every relay socket
// for what pion sends; a datagram to a port that is no live relay socket is
// dropped and counted in [Metrics].Dropped. AllowPrivatePeers allows all of
// the above; tests and labs that relay to loopback or private addresses set
// it.
//
// # Quotas
//
// [Config.Quota] bounds the allocations held at once per device (the device
// ID in the username, whatever the credential's expiry; coturn's
// user-quota), per client address (IPv4 address or IPv6 /64) and in total
// (coturn's total-quota). pion asks before each allocation (its
// QuotaHandler); an allocation admitted holds its place until pion reports
// it created, or for a few seconds if pion refuses it after all, so
// concurrent requests cannot overshoot. A refused request gets 486
// Allocation Quota Reached, counted in [Metrics].QuotaRefused.
package turnsrv
