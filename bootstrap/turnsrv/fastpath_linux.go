//go:build linux

package turnsrv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/turn/v5"
	"golang.org/x/sys/unix"
)

// HaveFastPath reports whether this platform has the batched data path.
const HaveFastPath = true

const (
	// fpBatch is how many datagrams one recvmmsg or sendmmsg moves.
	fpBatch = 32
	// fpSlot is the buffer per datagram. A datagram that does not fit is
	// dropped (counted), never cut short.
	fpSlot = 2048
	// pionBuffer is the size of the buffers pion reads into (its
	// InboundMTU and relay buffer): larger datagrams the data path leaves
	// to pion are dropped instead, as pion would cut them short.
	pionBuffer = 1600
	// fpEvents is how many readiness events one epoll_wait returns.
	fpEvents = 128
	// fpSlowQueue is how many datagrams wait for pion per listening
	// socket, and fpRelaySlowQueue per relay socket (datagrams from peers
	// without a channel, which pion turns into Data indications: ICE
	// checks before the client binds a channel). More are dropped and
	// counted, so a flood cannot grow memory; a relay's queue is short
	// because a server holds thousands of them.
	fpSlowQueue      = 256
	fpRelaySlowQueue = 32
)

// Epoll tokens: the wake-up eventfd, the listening socket, then one per
// relay socket, never reused, so an event read before a relay was closed
// cannot reach a socket that later got the same descriptor number.
const (
	tokWake uint64 = iota
	tokListener
	tokFirstRelay
)

// fastPath owns the workers of one server and finds relays by the relayed
// address pion reports in its events.
type fastPath struct {
	log     *slog.Logger
	metrics *Metrics
	policy  *peerPolicy

	mu      sync.Mutex // guards workers and relays
	workers []*fpWorker
	relays  map[netip.AddrPort]*fastRelay
}

func newFastPath(log *slog.Logger, m *Metrics, p *peerPolicy) *fastPath {
	return &fastPath{log: log, metrics: m, policy: p, relays: make(map[netip.AddrPort]*fastRelay)}
}

// adopt takes over pc if it is a UDP socket: it duplicates the
// descriptor for a worker and returns the net.PacketConn pion should
// read instead, and the relay generator whose relay sockets that worker
// serves. ok is false (and nothing changed) for other sockets. The caller
// closes pc once the server has started; the duplicate keeps the socket.
func (f *fastPath) adopt(pc net.PacketConn, c Config) (conn net.PacketConn, gen turn.RelayAddressGenerator, ok bool, err error) {
	uc, isUDP := pc.(*net.UDPConn)
	if !isUDP {
		return nil, nil, false, nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, false, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, nil, false, err
	}
	if derr != nil {
		return nil, nil, false, fmt.Errorf("dup UDP socket: %w", derr)
	}
	w, err := newWorker(f, fd, uc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		unix.Close(fd)
		return nil, nil, false, err
	}
	bind, _ := netip.ParseAddr(c.RelayBindAddr)
	relayIP, _ := netip.AddrFromSlice(c.RelayIP)
	f.mu.Lock()
	f.workers = append(f.workers, w)
	f.mu.Unlock()
	go w.loop()
	return &fastListenConn{w: w}, &fastRelayGen{udpRelay: newUDPRelay(c).(udpRelay), w: w, bind: bind.Unmap(), relayIP: relayIP.Unmap()}, true, nil
}

// stop shuts every worker down; used when New fails after adopting.
func (f *fastPath) stop() {
	f.mu.Lock()
	ws := f.workers
	f.workers = nil
	f.mu.Unlock()
	for _, w := range ws {
		w.shutdown()
	}
}

func (f *fastPath) relay(relayAddr net.Addr) *fastRelay {
	ap, ok := udpAddrPort(relayAddr)
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.relays[ap]
}

// The event hooks below mirror pion's permissions and channel bindings
// into the workers. pion calls them while it handles the request, before
// it answers, so a client never uses a channel the data path does not
// know yet; and when pion drops a permission or channel (expiry, or the
// allocation ending) the data path drops it too.

func (f *fastPath) allocationCreated(client, relayAddr net.Addr) {
	r := f.relay(relayAddr)
	cl, ok := udpAddrPort(client)
	if r == nil || !ok {
		return
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	csa, ok := makeRawAddr(cl, r.w.family)
	if r.closed || r.client.IsValid() || !ok {
		return
	}
	r.client, r.clientSA = cl, csa
}

func (f *fastPath) permissionCreated(client, relayAddr net.Addr, peer net.IP) {
	f.withPermission(client, relayAddr, peer, func(r *fastRelay, ip netip.Addr) {
		if !r.closed {
			r.perms[ip] = struct{}{}
		}
	})
}

func (f *fastPath) permissionDeleted(client, relayAddr net.Addr, peer net.IP) {
	f.withPermission(client, relayAddr, peer, func(r *fastRelay, ip netip.Addr) {
		delete(r.perms, ip)
	})
}

func (f *fastPath) channelCreated(client, relayAddr, peer net.Addr, num uint16) {
	f.withChannel(client, relayAddr, peer, func(r *fastRelay, pap netip.AddrPort) {
		w := r.w
		if r.closed {
			return
		}
		psa, ok := makeRawAddr(pap, r.family)
		if !ok {
			return // families that cannot meet; pion's slow path answers
		}
		v, _ := f.policy.judge(pap.Addr())
		ch := &fpChannel{relay: r, num: num, peer: pap, peerSA: psa, relayOnly: v == peerRelayOnly}
		if old := r.byPeer[pap]; old != nil {
			delete(w.byClient, chanKey{r.client, old.num})
		}
		r.byPeer[pap] = ch
		w.byClient[chanKey{r.client, num}] = ch
	})
}

func (f *fastPath) channelDeleted(client, relayAddr, peer net.Addr, num uint16) {
	f.withChannel(client, relayAddr, peer, func(r *fastRelay, pap netip.AddrPort) {
		if ch := r.byPeer[pap]; ch != nil && ch.num == num {
			delete(r.byPeer, pap)
		}
		if ch := r.w.byClient[chanKey{r.client, num}]; ch != nil && ch.relay == r {
			delete(r.w.byClient, chanKey{r.client, num})
		}
	})
}

// withPermission calls fn under the worker's lock for a permission event
// of one of the data path's relays, from the relay's owner; other events
// are ignored.
func (f *fastPath) withPermission(client, relayAddr net.Addr, peer net.IP, fn func(*fastRelay, netip.Addr)) {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return
	}
	f.underLock(client, relayAddr, func(r *fastRelay) { fn(r, ip.Unmap()) })
}

// withChannel is withPermission for channel events.
func (f *fastPath) withChannel(client, relayAddr, peer net.Addr, fn func(*fastRelay, netip.AddrPort)) {
	pap, ok := udpAddrPort(peer)
	if !ok {
		return
	}
	f.underLock(client, relayAddr, func(r *fastRelay) { fn(r, pap) })
}

func (f *fastPath) underLock(client, relayAddr net.Addr, fn func(*fastRelay)) {
	r := f.relay(relayAddr)
	if r == nil {
		return
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	cl, ok := udpAddrPort(client)
	if !ok || !r.client.IsValid() || r.client != cl {
		return
	}
	fn(r)
}

// chanKey finds a channel from a ChannelData message: the client's
// address and the channel number. A channel number is only meaningful
// with the client's address, so one client cannot use another's channel.
type chanKey struct {
	client netip.AddrPort
	num    uint16
}

// fpChannel is one channel binding of a relay.
type fpChannel struct {
	relay  *fastRelay
	num    uint16
	peer   netip.AddrPort
	peerSA rawAddr // peer in the relay socket's family
	// relayOnly: the peer is an address of this server, which may be sent
	// to only while its port is a live relay socket's (see peerPolicy).
	relayOnly bool
}

// fpWorker serves one listening socket and the relay sockets of the
// allocations made through it, on one goroutine (see loop).
// Everything a datagram needs is in this worker: the client's channels
// and the relay's permissions, so the hot path takes an uncontended lock
// per readiness event and allocates nothing.
type fpWorker struct {
	plane  *fastPath
	epfd   int
	epFile *os.File        // epfd, registered with Go's poller
	epRaw  syscall.RawConn // of epFile
	wakefd int
	lfd    int // the listening socket
	family int // of lfd
	laddr  *net.UDPAddr
	slow   chan slowPacket // datagrams for pion's read loop
	stop   chan struct{}   // closed when shutting down
	done   chan struct{}   // closed when the loop has exited and closed the sockets

	rounds atomic.Uint64 // epoll rounds served; tests watch it to see the loop park

	mu       sync.Mutex // guards the fields below and the descriptors' lifetime
	closing  bool
	relays   map[uint64]*fastRelay
	byClient map[chanKey]*fpChannel
	nextTok  uint64

	// Used by the loop goroutine only.
	events []unix.EpollEvent
	in     *mmsgBatch // datagrams read from the listening socket
	out    *mmsgBatch // datagrams read from relay sockets, sent to clients
	send   *mmsgBatch // headers of the datagrams in out to send
	outN   int        // slots of out in use
	sendN  int        // messages of send ready
}

type slowPacket struct {
	data []byte
	from netip.AddrPort
}

func newWorker(f *fastPath, lfd int, laddr *net.UDPAddr) (*fpWorker, error) {
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	family := unix.AF_INET
	if _, v6 := sa.(*unix.SockaddrInet6); v6 {
		family = unix.AF_INET6
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	w := &fpWorker{
		plane: f, epfd: epfd, wakefd: wakefd, lfd: lfd, family: family, laddr: laddr,
		slow:     make(chan slowPacket, fpSlowQueue),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		relays:   make(map[uint64]*fastRelay),
		byClient: make(map[chanKey]*fpChannel),
		nextTok:  tokFirstRelay,
		events:   make([]unix.EpollEvent, fpEvents),
		in:       newBatch(fpBatch, true),
		out:      newBatch(fpBatch, true),
		send:     newBatch(fpBatch, false),
	}
	if err := epollAdd(epfd, wakefd, tokWake); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	if err := epollAdd(epfd, lfd, tokListener); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	w.epFile = os.NewFile(uintptr(epfd), "turn-epoll")
	if w.epRaw, err = w.epFile.SyscallConn(); err != nil {
		_ = w.epFile.Close()
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return w, nil
}

func epollAdd(epfd, fd int, tok uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

func eventToken(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// wake interrupts epoll_wait.
func (w *fpWorker) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(w.wakefd, one[:])
}

// shutdown stops the loop and waits until it has closed every socket.
func (w *fpWorker) shutdown() {
	w.mu.Lock()
	if w.markClosingLocked() {
		w.wake()
	}
	w.mu.Unlock()
	<-w.done
}

// markClosingLocked marks the worker as closing and wakes pion's read loop
// out of ReadFrom; it reports whether the worker was open until then.
func (w *fpWorker) markClosingLocked() bool {
	if w.closing {
		return false
	}
	w.closing = true
	close(w.stop)
	return true
}

// loop relays until shutdown. The worker's epoll descriptor sits in Go's
// own poller, so between batches the goroutine is parked like any other
// network goroutine: no thread is held in a blocking epoll_wait, which
// would keep the scheduler's monitor thread waking to take its P back
// (measured: more CPU than the relaying itself at VoIP pacing).
func (w *fpWorker) loop() {
	defer close(w.done)
	var pollErr error
	err := w.epRaw.Read(func(fd uintptr) bool {
		for {
			n, err := epollPoll(int(fd), w.events)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				pollErr = err
				return true
			}
			if n == 0 {
				return false // drained: park until the poller reports more
			}
			w.rounds.Add(1)
			if !w.handle(w.events[:n]) {
				return true // closing
			}
		}
	})
	if err = errors.Join(err, pollErr); err != nil {
		// The server stops answering on this socket; pion's read loop
		// ends below and the operator sees why.
		w.plane.log.Error("turn data path stopped", "err", err)
	}
	w.mu.Lock()
	w.markClosingLocked()
	w.closeLocked()
	w.mu.Unlock()
}

// handle serves a batch of readiness events. It takes the worker's lock
// per event, not per batch, so that pion's event hooks (which wait for it
// while holding pion's own locks) and pion's writes are never held up by
// a whole burst. It reports false when the worker is closing.
func (w *fpWorker) handle(events []unix.EpollEvent) bool {
	var relayed, dropped uint64
	open := true
	for i := range events {
		ev := &events[i]
		w.mu.Lock()
		if w.closing {
			w.mu.Unlock()
			open = false
			break
		}
		switch tok := eventToken(ev); tok {
		case tokWake:
			var b [8]byte
			_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(w.wakefd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		case tokListener:
			if ev.Events&unix.EPOLLERR != 0 {
				drainErrors(w.lfd)
			}
			r, d := w.readListener()
			relayed, dropped = relayed+r, dropped+d
		default:
			if rl := w.relays[tok]; rl != nil {
				if ev.Events&unix.EPOLLERR != 0 {
					drainErrors(rl.fd)
				}
				r, d := w.readRelay(rl)
				relayed, dropped = relayed+r, dropped+d
			}
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	if !w.closing {
		relayed += w.flush()
	}
	w.mu.Unlock()
	if relayed > 0 {
		w.plane.metrics.FastRelayed.Add(relayed)
	}
	if dropped > 0 {
		w.plane.metrics.Dropped.Add(dropped)
	}
	return open
}

// drainErrors clears what raises EPOLLERR on a socket: the pending socket
// error, and the error queue if IP_RECVERR was set on it (ICMP errors
// queue there and recvmmsg never reads them). Without this, a level-
// triggered EPOLLERR would keep the worker from ever parking.
func drainErrors(fd int) {
	_, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	var buf [512]byte
	var oob [512]byte
	for range fpBatch {
		iov := unix.Iovec{Base: &buf[0]}
		iov.SetLen(len(buf))
		var h unix.Msghdr
		h.Iov = &iov
		h.SetIovlen(1)
		h.Control = &oob[0]
		h.SetControllen(len(oob))
		_, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&h)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errno != 0 {
			return
		}
	}
}

// closeLocked closes every relay socket and the worker's own descriptors.
func (w *fpWorker) closeLocked() {
	for _, r := range w.relays {
		w.closeRelayLocked(r)
	}
	unix.Close(w.lfd)
	unix.Close(w.wakefd)
	_ = w.epFile.Close()
	w.lfd = -1
}

// readListener reads a batch from the listening socket. ChannelData on a
// channel the data path knows goes straight out of the relay socket;
// everything else (STUN requests, indications, unknown channels) is
// queued for pion.
func (w *fpWorker) readListener() (relayed, dropped uint64) {
	b := w.in
	n := b.recv(w.lfd, 0, fpBatch)
	for i := range n {
		data, from, ok := b.received(i)
		if !ok {
			dropped++
			continue
		}
		if num, payload, ok := parseChannelData(data); ok {
			if ch := w.byClient[chanKey{from, num}]; ch != nil {
				r := ch.relay
				if _, ok := r.perms[ch.peer.Addr()]; !ok {
					dropped++ // the channel outlived its permission
					continue
				}
				if ch.relayOnly && !w.plane.policy.relayPortLive(ch.peer.Port()) {
					dropped++ // the server itself, not one of its relays
					continue
				}
				if sendto(r.fd, payload, &ch.peerSA) == nil {
					relayed++
				} else {
					dropped++
				}
				continue
			}
		}
		if !w.toPion(w.slow, data, from) {
			dropped++
		}
	}
	return relayed, dropped
}

// toPion queues a copy of data for a pion read loop, or reports false
// when the queue is full.
func (w *fpWorker) toPion(q chan slowPacket, data []byte, from netip.AddrPort) bool {
	select {
	case q <- slowPacket{data: append([]byte(nil), data...), from: from}:
		return true
	default:
		return false
	}
}

// readRelay reads a batch from a relay socket. A datagram from a peer
// with a channel gets a ChannelData header written in front of it, in
// place, and is queued for one sendmmsg to the clients; one from a
// permitted peer without a channel goes to pion, which sends it as a Data
// indication; others are dropped (RFC 8656 section 9).
func (w *fpWorker) readRelay(r *fastRelay) (relayed, dropped uint64) {
	if w.outN == fpBatch {
		relayed += w.flush()
	}
	b := w.out
	n := b.recv(r.fd, w.outN, fpBatch-w.outN)
	for i := w.outN; i < w.outN+n; i++ {
		data, from, ok := b.received(i)
		if !ok {
			dropped++
			continue
		}
		if _, ok := r.perms[from.Addr()]; !ok {
			dropped++
			continue
		}
		ch := r.byPeer[from]
		if ch == nil || !r.client.IsValid() {
			if len(data) > pionBuffer || !w.toPion(r.slow, data, from) {
				dropped++
			}
			continue
		}
		s := b.slot(i)
		binary.BigEndian.PutUint16(s[0:], ch.num)
		binary.BigEndian.PutUint16(s[2:], uint16(len(data)))
		w.send.queue(w.sendN, s[:chanHeader+len(data)], &r.clientSA)
		w.sendN++
	}
	w.outN += n
	return relayed, dropped
}

// flush sends the queued ChannelData to the clients with sendmmsg and
// returns how many went out. A datagram the kernel refuses (a full send
// buffer) is dropped: UDP media must not wait.
func (w *fpWorker) flush() (sent uint64) {
	off := 0
	for off < w.sendN {
		k, err := sendmmsg(w.lfd, w.send.msgs[off:w.sendN])
		switch {
		case k > 0:
			off += k
			sent += uint64(k)
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			w.plane.metrics.Dropped.Add(uint64(w.sendN - off))
			off = w.sendN
		default:
			off++ // skip the one datagram the kernel refused
			w.plane.metrics.Dropped.Add(1)
		}
	}
	w.outN, w.sendN = 0, 0
	return sent
}

// addRelay starts serving a relay socket.
func (w *fpWorker) addRelay(fd, family int, local *net.UDPAddr, public netip.AddrPort) (*fastRelay, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return nil, net.ErrClosed
	}
	r := &fastRelay{
		w: w, tok: w.nextTok, fd: fd, family: family, local: local, public: public,
		slow:   make(chan slowPacket, fpRelaySlowQueue),
		stop:   make(chan struct{}),
		perms:  make(map[netip.Addr]struct{}),
		byPeer: make(map[netip.AddrPort]*fpChannel),
	}
	if err := epollAdd(w.epfd, fd, r.tok); err != nil {
		return nil, err
	}
	w.nextTok++
	w.relays[r.tok] = r
	w.plane.mu.Lock()
	w.plane.relays[public] = r
	w.plane.mu.Unlock()
	return r, nil
}

func (w *fpWorker) closeRelayLocked(r *fastRelay) {
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
	unix.Close(r.fd)
	r.fd = -1
	delete(w.relays, r.tok)
	for _, ch := range r.byPeer {
		if w.byClient[chanKey{r.client, ch.num}] == ch {
			delete(w.byClient, chanKey{r.client, ch.num})
		}
	}
	w.plane.mu.Lock()
	if w.plane.relays[r.public] == r {
		delete(w.plane.relays, r.public)
	}
	w.plane.mu.Unlock()
}

// fastListenConn is the listening socket as pion sees it: it reads what
// the data path leaves to pion and writes straight to the socket.
type fastListenConn struct {
	w *fpWorker
}

// ReadFrom implements net.PacketConn.
func (c *fastListenConn) ReadFrom(b []byte) (int, net.Addr, error) {
	return readSlow(c.w.slow, c.w.stop, b)
}

// WriteTo implements net.PacketConn.
func (c *fastListenConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return 0, net.ErrClosed
	}
	return writeTo(w.lfd, w.family, p, addr)
}

// Close implements net.PacketConn: it stops the worker, which closes the
// socket and every relay socket it served.
func (c *fastListenConn) Close() error {
	c.w.shutdown()
	return nil
}

// LocalAddr implements net.PacketConn.
func (c *fastListenConn) LocalAddr() net.Addr { return c.w.laddr }

// SetDeadline implements net.PacketConn; see [fastRelay.SetDeadline].
func (c *fastListenConn) SetDeadline(t time.Time) error { return noDeadline(t) }

// SetReadDeadline implements net.PacketConn; see [fastRelay.SetDeadline].
func (c *fastListenConn) SetReadDeadline(t time.Time) error { return noDeadline(t) }

// SetWriteDeadline implements net.PacketConn: writes never block.
func (c *fastListenConn) SetWriteDeadline(time.Time) error { return nil }

// fastRelay is a relay socket served by a worker. pion reads from it only
// what the data path leaves to pion (datagrams from permitted peers
// without a channel) and writes to it for Send indications and for
// ChannelData the data path did not know.
type fastRelay struct {
	w      *fpWorker
	tok    uint64
	family int
	local  *net.UDPAddr
	public netip.AddrPort // the relayed transport address given to the client
	slow   chan slowPacket
	stop   chan struct{} // closed when the relay is closed

	// Guarded by w.mu.
	fd       int
	closed   bool
	client   netip.AddrPort // the allocation's client, from pion's OnAllocationCreated
	clientSA rawAddr        // client in the listening socket's family
	perms    map[netip.Addr]struct{}
	byPeer   map[netip.AddrPort]*fpChannel
}

// ReadFrom implements net.PacketConn.
func (r *fastRelay) ReadFrom(b []byte) (int, net.Addr, error) {
	return readSlow(r.slow, r.stop, b)
}

// WriteTo implements net.PacketConn.
func (r *fastRelay) WriteTo(p []byte, addr net.Addr) (int, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	if r.closed {
		return 0, net.ErrClosed
	}
	return writeTo(r.fd, r.family, p, addr)
}

// Close implements net.PacketConn.
func (r *fastRelay) Close() error {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.closeRelayLocked(r)
	return nil
}

// LocalAddr implements net.PacketConn.
func (r *fastRelay) LocalAddr() net.Addr { return r.local }

// SetDeadline implements net.PacketConn. pion sets no deadlines on UDP
// sockets; a read deadline is refused rather than silently ignored.
func (r *fastRelay) SetDeadline(t time.Time) error { return noDeadline(t) }

// SetReadDeadline implements net.PacketConn; see SetDeadline.
func (r *fastRelay) SetReadDeadline(t time.Time) error { return noDeadline(t) }

// SetWriteDeadline implements net.PacketConn: writes never block.
func (r *fastRelay) SetWriteDeadline(time.Time) error { return nil }

func noDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	return fmt.Errorf("turnsrv: read deadlines: %w", errors.ErrUnsupported)
}

func readSlow(q chan slowPacket, stop chan struct{}, b []byte) (int, net.Addr, error) {
	select {
	case p := <-q:
		return copy(b, p.data), net.UDPAddrFromAddrPort(p.from), nil
	case <-stop:
		return 0, nil, net.ErrClosed
	}
}

func writeTo(fd, family int, p []byte, addr net.Addr) (int, error) {
	ap, ok := udpAddrPort(addr)
	if !ok {
		return 0, fmt.Errorf("turnsrv: write to %v: %w", addr, errBadAddr)
	}
	sa, ok := makeRawAddr(ap, family)
	if !ok {
		return 0, fmt.Errorf("turnsrv: write to %v: %w", addr, errBadAddr)
	}
	if err := sendto(fd, p, &sa); err != nil {
		return 0, err
	}
	return len(p), nil
}

// fastRelayGen makes relay sockets served by a worker. Allocations the
// worker cannot serve (another address family) get pion's plain sockets.
type fastRelayGen struct {
	udpRelay
	w       *fpWorker
	bind    netip.Addr
	relayIP netip.Addr
}

// AllocatePacketConn implements turn.RelayAddressGenerator.
func (g *fastRelayGen) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	family := unix.AF_INET
	if !g.relayIP.Is4() {
		family = unix.AF_INET6
	}
	if (family == unix.AF_INET) != (conf.Network == "udp4") || (family == unix.AF_INET6) != (conf.Network == "udp6") ||
		!g.bind.IsValid() || g.bind.Is4() != g.relayIP.Is4() {
		return g.udpRelay.AllocatePacketConn(conf)
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("relay socket: %w", err)
	}
	// Best effort, as in udpRelay.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, relaySocketBuffer)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, relaySocketBuffer)
	bindAP := netip.AddrPortFrom(g.bind, uint16(conf.RequestedPort))
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(bindAP.Port()), Addr: g.bind.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(bindAP.Port()), Addr: g.bind.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("relay socket: bind %s: %w", bindAP, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("relay socket: %w", err)
	}
	var port int
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	local := net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.bind, uint16(port)))
	public := netip.AddrPortFrom(g.relayIP, uint16(port))
	r, err := g.w.addRelay(fd, family, local, public)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return r, net.UDPAddrFromAddrPort(public), nil
}

// rawAddr is a socket address as the kernel reads and writes it: a
// sockaddr_in or sockaddr_in6.
type rawAddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uint32
}

// makeRawAddr encodes ap for a socket of the given family; an IPv4
// address on an IPv6 socket becomes IPv4-mapped.
func makeRawAddr(ap netip.AddrPort, family int) (rawAddr, bool) {
	var a rawAddr
	ip := ap.Addr().Unmap()
	switch {
	case family == unix.AF_INET && ip.Is4():
		binary.NativeEndian.PutUint16(a.b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(a.b[2:], ap.Port())
		v4 := ip.As4()
		copy(a.b[4:8], v4[:])
		a.n = unix.SizeofSockaddrInet4
	case family == unix.AF_INET6 && ip.IsValid():
		binary.NativeEndian.PutUint16(a.b[0:], unix.AF_INET6)
		binary.BigEndian.PutUint16(a.b[2:], ap.Port())
		v6 := ip.As16()
		copy(a.b[8:24], v6[:])
		a.n = unix.SizeofSockaddrInet6
	default:
		return a, false
	}
	return a, true
}

// addrPort decodes an address the kernel wrote, unmapping IPv4-mapped
// addresses.
func (a *rawAddr) addrPort() (netip.AddrPort, bool) {
	port := binary.BigEndian.Uint16(a.b[2:])
	switch binary.NativeEndian.Uint16(a.b[0:]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.b[4:8])), port), true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(a.b[8:24])).Unmap(), port), true
	}
	return netip.AddrPort{}, false
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2). Go pads it to
// the alignment of unix.Msghdr as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgBatch is a set of message headers, and for receiving batches their
// buffers and source addresses.
type mmsgBatch struct {
	msgs  []mmsghdr
	iovs  []unix.Iovec
	names []rawAddr
	bufs  []byte
}

func newBatch(n int, withBuffers bool) *mmsgBatch {
	b := &mmsgBatch{msgs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n)}
	if withBuffers {
		b.names = make([]rawAddr, n)
		b.bufs = make([]byte, n*fpSlot)
	}
	return b
}

func (b *mmsgBatch) slot(i int) []byte { return b.bufs[i*fpSlot : (i+1)*fpSlot] }

// recv reads up to n datagrams into slots from, from+1, …, without
// blocking, and returns how many it read. Relay slots (b == out) leave
// room for a ChannelData header in front of the data; the listener's
// batch does too, harmlessly.
func (b *mmsgBatch) recv(fd, from, n int) int {
	for i := from; i < from+n; i++ {
		s := b.slot(i)[chanHeader:]
		b.iovs[i].Base = &s[0]
		b.iovs[i].SetLen(len(s))
		m := &b.msgs[i]
		m.hdr = unix.Msghdr{Name: &b.names[i].b[0], Namelen: uint32(len(b.names[i].b)), Iov: &b.iovs[i]}
		m.hdr.SetIovlen(1)
		m.n = 0
	}
	for {
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[from])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(r)
	}
}

// received returns datagram i of a batch recv filled, and its source;
// ok is false for one cut short (larger than a slot) or from an address
// of no known family, which the caller drops.
func (b *mmsgBatch) received(i int) (data []byte, from netip.AddrPort, ok bool) {
	m := &b.msgs[i]
	if m.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, false
	}
	from, ok = b.names[i].addrPort()
	if !ok {
		return nil, netip.AddrPort{}, false
	}
	return b.slot(i)[chanHeader : chanHeader+int(m.n)], from, true
}

// queue fills send header i for data to addr.
func (b *mmsgBatch) queue(i int, data []byte, to *rawAddr) {
	b.iovs[i].Base = &data[0]
	b.iovs[i].SetLen(len(data))
	m := &b.msgs[i]
	m.hdr = unix.Msghdr{Name: &to.b[0], Namelen: to.n, Iov: &b.iovs[i]}
	m.hdr.SetIovlen(1)
	m.n = 0
}

// The data path's system calls never block (the sockets are
// non-blocking, epoll is polled with a zero timeout), so they go through
// RawSyscall: the Go scheduler is not told about them. With Syscall every
// call would mark the P as in a system call, and the first one after an
// idle spell wakes the scheduler's monitor thread; measured at VoIP pacing,
// those wake-ups cost about as much CPU as the relaying.

// epollPoll returns the ready events of epfd without waiting.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sendmmsg(fd int, msgs []mmsghdr) (int, error) {
	r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func sendto(fd int, p []byte, to *rawAddr) error {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&to.b[0])), uintptr(to.n))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}
