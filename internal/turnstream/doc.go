// Package turnstream carries TURN over a libp2p stream, for devices whose
// network lets nothing out but TCP to port 443 (corporate and hotel
// networks; the NAT lab's "tcp443" site kind).
//
// # Protocol
//
// A device opens a stream with protocol ID ("/parley/turn-stream/1") to a
// bootstrap it is connected to and speaks TURN over it exactly as over a
// TCP connection to the TURN port (RFC 8656 section 3.3 and RFC 6544
// framing): STUN messages and ChannelData messages, the latter padded to a
// multiple of four bytes, back to back on the byte stream. There is no
// framing of its own, so nothing here decodes untrusted bytes: pion/turn
// parses the stream as it parses a TCP connection, with the TURN server's
// usual authentication (TURN REST credentials from the credential issuer),
// quotas and peer policy. Relayed addresses are UDP, as for every other
// transport.
//
// The libp2p connection under the stream is Noise-encrypted and pins the
// bootstrap by its peer ID, which the device already knows from the
// bootstrap's address: that is the certificate pinning TURN over TLS would
// need, without a CA. An operator who lets libp2p listen on TCP port 443
// thereby offers TURN on port 443 too.
//
// # Server side
//
// [Listener] is a net.Listener whose Accept returns the streams opened to
// [Listener.Handle] (the stream handler). Each one's RemoteAddr is the IP
// address of the libp2p connection's remote end with a port unique among
// the listener's open streams, so that pion's allocations (keyed by the
// five-tuple) do not collide and the TURN server's per-address quota
// counts the device's real address. The listener bounds the streams it
// holds per peer and in total, closes a stream that has been silent for
// [ListenerConfig.IdleTimeout], and bounds each write in time.
//
// # Client side
//
// [Dialer] is a proxy dialer for pion/ice (AgentConfig.ProxyDialer): a TURN
// URL whose host is [HostFor] of a peer is dialled as a stream to that
// peer; any other address is dialled directly over TCP, with a timeout.
// [URL] is the URL a device adds for a bootstrap that serves the protocol.
package turnstream
