package turnsrv

import "encoding/binary"

// The batched data path.
//
// pion/turn relays every datagram on goroutines: one reads the listening
// socket, one per allocation reads its relay socket, and each datagram
// costs a goroutine wake-up, a read that comes back empty, an address and
// a ChannelData buffer on the heap. In the relay bench (test/bench relay)
// that made pion's CPU per relayed packet 1.6–2.4× coturn's.
//
// On Linux the server therefore relays ChannelData itself, below pion: per
// listening socket one goroutine serves that socket and the relay sockets
// of the allocations made through it. They are raw non-blocking sockets
// in an epoll set of the worker's own, outside Go's poller; the epoll
// descriptor itself sits in Go's poller, so the goroutine parks between
// bursts like any network goroutine and wakes once for all the sockets
// that became ready. It reads batches with recvmmsg and sends what goes
// to clients with one sendmmsg per burst. A datagram from a peer is read
// four bytes into its buffer so that the ChannelData header is written in
// front of it in place. Nothing is allocated per datagram, and the calls,
// which never block, bypass the scheduler's system-call bookkeeping (see
// epollPoll).
//
// pion stays the control plane: every STUN message, Send and Data
// indication, and any ChannelData the data path does not know goes to
// pion unchanged, through a bounded queue. The data path learns
// permissions and channel bindings from pion's event callbacks, which pion
// calls before it answers the request that made them, and forgets them
// when pion reports them gone (expiry, or the allocation ending, which
// closes the relay socket). It relays only what pion would: ChannelData
// from the client the channel was bound for, and datagrams from peers with
// a permission. Allocations over TCP, and relays of another address family
// than the server's relay address, stay entirely with pion.

// chanHeader is the size of a ChannelData header (RFC 8656 section 12.4).
const chanHeader = 4

// parseChannelData reads a ChannelData message: a channel number in
// 0x4000–0x4FFF (RFC 8656; 0x5000–0x7FFF were valid in RFC 5766 and are
// accepted as pion accepts them), a length, and that many bytes of data.
// Padding after the data is allowed; a length past the end is not.
func parseChannelData(b []byte) (num uint16, data []byte, ok bool) {
	if len(b) < chanHeader {
		return 0, nil, false
	}
	num = binary.BigEndian.Uint16(b)
	if num < 0x4000 || num > 0x7FFF {
		return 0, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if chanHeader+n > len(b) {
		return 0, nil, false
	}
	return num, b[chanHeader : chanHeader+n], true
}
