package turnstream

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Listener defaults.
const (
	// DefaultMaxPerPeer bounds the TURN streams one peer holds: one per
	// call leg and bootstrap, and a device in a full-mesh conference of 8
	// has 7 legs, plus ICE restarts and spare legs. The TURN server's
	// per-device quota (32 allocations) applies on top.
	DefaultMaxPerPeer = 32
	// DefaultMaxTotal bounds the TURN streams held at once.
	DefaultMaxTotal = 1024
	// DefaultIdleTimeout closes a stream silent this long. A TURN client
	// refreshes its permissions every 2 minutes and its allocation
	// before the lifetime ends, and a leg in a call checks its pair every
	// 2 s, so a live allocation is never this silent.
	DefaultIdleTimeout = 3 * time.Minute
	// acceptBacklog is how many streams may wait for Accept; more are
	// reset.
	acceptBacklog = 64
)

// ListenerConfig configures a Listener. Zero fields mean the defaults.
type ListenerConfig struct {
	// Addr is what Addr returns and every stream's LocalAddr: the
	// address operators see in logs. Defaults to 0.0.0.0:443.
	Addr *net.TCPAddr
	// MaxPerPeer bounds the streams of one peer. Default DefaultMaxPerPeer.
	MaxPerPeer int
	// MaxTotal bounds the streams held at once. Default DefaultMaxTotal;
	// at most 60000 (each stream takes a port of the remote address
	// space).
	MaxTotal int
	// IdleTimeout closes a stream that has received nothing for this long.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger gets a debug line per stream opened or refused. Defaults to
	// discarding.
	Logger *slog.Logger
}

// Listener hands the TURN streams opened to Handle to Accept. It is safe
// for concurrent use.
type Listener struct {
	cfg    ListenerConfig
	accept chan *conn
	done   chan struct{}

	mu      sync.Mutex // guards the following fields
	closed  bool
	perPeer map[peer.ID]int
	ports   map[uint16]struct{} // remote ports in use
	next    uint16              // where the search for a free port starts
	opened  uint64              // streams accepted so far
	refused uint64              // streams reset by Handle so far
}

// NewListener returns a Listener; register Handle as the stream handler of
// ID.
func NewListener(cfg ListenerConfig) *Listener {
	if cfg.Addr == nil {
		cfg.Addr = &net.TCPAddr{IP: net.IPv4zero, Port: nominalPort}
	}
	if cfg.MaxPerPeer <= 0 {
		cfg.MaxPerPeer = DefaultMaxPerPeer
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = DefaultMaxTotal
	}
	cfg.MaxTotal = min(cfg.MaxTotal, 60000)
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		cfg:     cfg,
		accept:  make(chan *conn, acceptBacklog),
		done:    make(chan struct{}),
		perPeer: make(map[peer.ID]int),
		ports:   make(map[uint16]struct{}),
		next:    1,
	}
}

// Handle is the stream handler: it queues s for Accept, or resets it when
// the listener is closed, the peer or the listener is at its bound, or the
// backlog is full.
func (l *Listener) Handle(s network.Stream) {
	p := s.Conn().RemotePeer()
	port, ok := l.take(p)
	if !ok {
		_ = s.Reset()
		l.cfg.Logger.Debug("turn stream refused", "peer", p, "remote", s.Conn().RemoteMultiaddr(), "reason", ErrTooManyStreams)
		return
	}
	remote := tcpAddr(s.Conn().RemoteMultiaddr())
	remote.Port = int(port)
	var once sync.Once
	c := newConn(s, &net.TCPAddr{IP: l.cfg.Addr.IP, Port: l.cfg.Addr.Port}, remote, l.cfg.IdleTimeout,
		func() { once.Do(func() { l.give(p, port) }) })
	select {
	case l.accept <- c:
		l.cfg.Logger.Debug("turn stream opened", "peer", p, "remote", s.Conn().RemoteMultiaddr(), "src", remote)
	default:
		_ = s.Reset()
		c.release()
		l.backlogFull()
		l.cfg.Logger.Debug("turn stream refused", "peer", p, "remote", s.Conn().RemoteMultiaddr(), "reason", "accept backlog full")
	}
}

// backlogFull counts a stream take let in as refused after all.
func (l *Listener) backlogFull() {
	l.mu.Lock()
	l.opened--
	l.refused++
	l.mu.Unlock()
}

// take reserves a place for a stream of p and a remote port for it.
func (l *Listener) take(p peer.ID) (uint16, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.perPeer[p] >= l.cfg.MaxPerPeer || len(l.ports) >= l.cfg.MaxTotal {
		l.refused++
		return 0, false
	}
	// len(l.ports) < MaxTotal ≤ 60000 < 65535: a free port exists.
	for {
		port := l.next
		l.next++
		if l.next == 0 {
			l.next = 1
		}
		if _, used := l.ports[port]; !used {
			l.ports[port] = struct{}{}
			l.perPeer[p]++
			l.opened++
			return port, true
		}
	}
}

// give returns the place take reserved.
func (l *Listener) give(p peer.ID, port uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ports, port)
	if l.perPeer[p]--; l.perPeer[p] <= 0 {
		delete(l.perPeer, p)
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: Accept returns net.ErrClosed, streams
// waiting for Accept are reset and new ones refused. Streams already
// accepted stay open; their owner (the TURN server) closes them. Later
// calls return nil.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	for {
		select {
		case c := <-l.accept:
			_ = c.Stream.Reset()
			c.release()
		default:
			return nil
		}
	}
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return l.cfg.Addr }

// Stats are a Listener's counts.
type Stats struct {
	// Open is the number of streams held (queued or accepted, not yet
	// closed).
	Open int
	// Opened counts the streams taken so far; Refused those reset
	// because a bound was reached or the listener was closed.
	Opened, Refused uint64
}

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: len(l.ports), Opened: l.opened, Refused: l.refused}
}
