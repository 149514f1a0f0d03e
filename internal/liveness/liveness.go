// Package liveness tells a libp2p connection that still carries traffic
// from one left behind by a peer that vanished. A process killed with
// SIGKILL closes nothing its peers can see on a QUIC connection (UDP has no
// FIN or RST): the connection lingers on their side until its idle timeout,
// about 30 s, and a stream opened on it meanwhile goes nowhere. Nodes probe
// a contact's connections before ringing it and a call's connection when
// its media stops; the bootstrap probes a peer's older connections when
// the peer connects again (a restarted daemon), so that it does not relay
// to the dead one.
package liveness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	msmux "github.com/multiformats/go-multistream"
)

// Timeout bounds a probe ([PingConn]) of a connection that
// is suspected dead: a live connection answers within a round trip, and a
// connection to a daemon that crashed (whose QUIC connection nothing
// closed) never does.
const Timeout = 1500 * time.Millisecond

// ErrDead is returned by [PingConn] when the connection did not answer.
var ErrDead = errors.New("the connection does not answer")

// PingConn checks that c still carries traffic both ways: one libp2p ping
// (the standard /ipfs/ping/1.0.0 echo of 32 random bytes) on a new stream
// of that very connection, bounded by ctx and Timeout. Only the
// echo is read, so a peer cannot make it wait longer or allocate more.
func PingConn(ctx context.Context, c network.Conn) error {
	if c.IsClosed() {
		return fmt.Errorf("%w: closed", ErrDead)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	s, err := c.NewStream(network.WithAllowLimitedConn(ctx, "liveness"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDead, err)
	}
	defer s.Reset()
	if err := s.SetProtocol(ping.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrDead, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	rw := msmux.NewMSSelect(s, ping.ID)
	buf := make([]byte, ping.PingSize)
	_, _ = rand.Read(buf)
	if _, err := rw.Write(buf); err != nil {
		return fmt.Errorf("%w: %w", ErrDead, err)
	}
	echo := make([]byte, ping.PingSize)
	if _, err := io.ReadFull(rw, echo); err != nil {
		return fmt.Errorf("%w: %w", ErrDead, err)
	}
	if !bytes.Equal(buf, echo) {
		return fmt.Errorf("%w: wrong ping echo", ErrDead)
	}
	return nil
}

// ProbePeer pings every open connection to p at once ([PingConn]),
// closes those that do not answer, and returns how many do. A daemon that
// was killed leaves its QUIC connections open on this side until their
// idle timeout (about 30 s); a stream opened on one meanwhile goes nowhere.
func ProbePeer(ctx context.Context, n network.Network, p peer.ID) (alive int) {
	conns := n.ConnsToPeer(p)
	ok := make(chan bool, len(conns))
	for _, c := range conns {
		go func() {
			err := PingConn(ctx, c)
			if err != nil && ctx.Err() == nil {
				_ = c.Close()
			}
			ok <- err == nil
		}()
	}
	for range conns {
		if <-ok {
			alive++
		}
	}
	return alive
}
