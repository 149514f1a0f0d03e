package service

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

// LivenessTimeout bounds a liveness probe ([PingConn]) of a connection that
// is suspected dead: a live connection answers within a round trip, and a
// connection to a daemon that crashed (whose QUIC connection nothing
// closed) never does.
const LivenessTimeout = 1500 * time.Millisecond

// ErrConnDead is returned by [PingConn] when the connection did not answer.
var ErrConnDead = errors.New("the connection does not answer")

// PingConn checks that c still carries traffic both ways: one libp2p ping
// (the standard /ipfs/ping/1.0.0 echo of 32 random bytes) on a new stream
// of that very connection, bounded by ctx and LivenessTimeout. Only the
// echo is read, so a peer cannot make it wait longer or allocate more.
func PingConn(ctx context.Context, c network.Conn) error {
	if c.IsClosed() {
		return fmt.Errorf("%w: closed", ErrConnDead)
	}
	ctx, cancel := context.WithTimeout(ctx, LivenessTimeout)
	defer cancel()
	s, err := c.NewStream(network.WithAllowLimitedConn(ctx, "liveness"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConnDead, err)
	}
	defer s.Reset()
	if err := s.SetProtocol(ping.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrConnDead, err)
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
		return fmt.Errorf("%w: %w", ErrConnDead, err)
	}
	echo := make([]byte, ping.PingSize)
	if _, err := io.ReadFull(rw, echo); err != nil {
		return fmt.Errorf("%w: %w", ErrConnDead, err)
	}
	if !bytes.Equal(buf, echo) {
		return fmt.Errorf("%w: wrong ping echo", ErrConnDead)
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
