package dhtstore

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/ipgroup"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

const (
	// maxPending bounds the notes of PUT_VALUE requests not yet stored;
	// the oldest is dropped first.
	maxPending = 4096
	// pendingTTL is how long a note waits for its Put: kad-dht stores a
	// record right after the hook, on the same goroutine, unless it
	// refuses it (invalid, or older than the one stored), and then the
	// note is never used.
	pendingTTL = 10 * time.Second
)

// sender is who stored a record: a peer (the empty ID for the local node)
// and the IPv4 address or IPv6 /64 it sent from (invalid when unknown:
// local, or over a relayed connection).
type sender struct {
	peer peer.ID
	ip   netip.Prefix
}

// senderFromConn returns the sender at the other end of a connection.
func senderFromConn(p peer.ID, remote ma.Multiaddr) sender {
	s := sender{peer: p}
	if remote == nil {
		return s
	}
	if _, err := remote.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return s // the address is the relay's, not the sender's
	}
	ip, err := manet.ToIP(remote)
	if err != nil {
		return s
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return s
	}
	s.ip = ipgroup.Host(addr)
	return s
}

// onRequest is kad-dht's OnRequestHook: it notes who sent each PUT_VALUE.
func (s *Store) onRequest(_ context.Context, st network.Stream, req *pb.Message) {
	if req.GetType() != pb.Message_PUT_VALUE || req.GetRecord() == nil {
		return
	}
	c := st.Conn()
	from := senderFromConn(c.RemotePeer(), c.RemoteMultiaddr())
	s.notes.add(string(req.GetRecord().GetKey()), hashValue(req.GetRecord().GetValue()), from, s.now())
}

// noteKey names a PUT_VALUE request by its record.
type noteKey struct {
	key   string
	vhash valueHash
}

type note struct {
	key  noteKey
	from sender
	at   time.Time
}

// notes are the senders of PUT_VALUE requests whose records are on their
// way to Put.
type notes struct {
	mu    sync.Mutex // guards the following fields
	byKey map[noteKey]*list.Element
	order list.List // of *note, oldest first
}

func newNotes() *notes { return &notes{byKey: make(map[noteKey]*list.Element)} }

func (n *notes) add(key string, vh valueHash, from sender, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pruneLocked(now)
	k := noteKey{key, vh}
	if el := n.byKey[k]; el != nil {
		n.order.Remove(el)
	}
	for n.order.Len() >= maxPending {
		old := n.order.Remove(n.order.Front()).(*note)
		delete(n.byKey, old.key)
	}
	n.byKey[k] = n.order.PushBack(&note{key: k, from: from, at: now})
}

// take returns and forgets the sender of a record, or the local sender
// when there is no note.
func (n *notes) take(key string, vh valueHash, now time.Time) sender {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pruneLocked(now)
	k := noteKey{key, vh}
	el := n.byKey[k]
	if el == nil {
		return sender{}
	}
	delete(n.byKey, k)
	return n.order.Remove(el).(*note).from
}

func (n *notes) pruneLocked(now time.Time) {
	for el := n.order.Front(); el != nil; el = n.order.Front() {
		nt := el.Value.(*note)
		if now.Sub(nt.at) < pendingTTL {
			return
		}
		n.order.Remove(el)
		delete(n.byKey, nt.key)
	}
}
