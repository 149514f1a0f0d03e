package calls

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ICE restarts of an established call (docs/protocol.md, "ICE restart").
// A call restarts ICE when this device's network changes (an address of
// an interface that is up appears or goes away) or when media stops
// arriving on the selected path; the peer is told with a signed
// ice-restart control message and answers with ice-restart-reply. The
// SRTP session and its keys stay.
const (
	// pathWatchInterval is how often a call looks at the local addresses
	// and at the time of the last packet received.
	pathWatchInterval = 100 * time.Millisecond
	// silenceRestart is how long media may stop arriving, while the peer
	// was sending it, before the call restarts ICE. Audio comes 50 times
	// a second; a path that stays silent this long is broken.
	silenceRestart = 700 * time.Millisecond
	// quietSilenceRestart is the same for a peer that sends no media,
	// only RTCP reports (one every 0.5 to 1.5 s).
	quietSilenceRestart = 4 * time.Second
	// flowingPackets is how many packets one pathWatchInterval must bring
	// for the peer to count as sending media.
	flowingPackets = 2
	// turnRenewBefore is how long before its TURN credentials expire a
	// leg whose path runs through its own relay candidate restarts ICE
	// with fresh ones: the TURN server refuses to refresh a permission or
	// an allocation with expired credentials, and the path dies a few
	// minutes later. (Calls.iceServers fetches new credentials once the
	// cached ones have less than a minute left.)
	turnRenewBefore = 45 * time.Second
	// peerRestartGap is the least time between two restarts the peer asks
	// for that this side follows (an attacker's flood of signed restarts
	// made a device gather and allocate on TURN 20 times a second).
	peerRestartGap = time.Second
	// restartGrace is how long after this device's network changed, or
	// the peer last sent a restart message, a silent path counts as being
	// mended: the peer-loss watch (watch.go) does not end the call for
	// silence then, up to restartGiveUp of it.
	restartGrace = 10 * time.Second
	// restartGiveUp is the longest silence a call being mended survives.
	restartGiveUp = 15 * time.Second
	// calleeSilenceFactor stretches the silence limits on the callee's
	// side (see watchPath).
	calleeSilenceFactor = 3
	// restartBackoff is the least time between two restarts this side
	// starts because of silence (a network change restarts at once).
	restartBackoff = 2500 * time.Millisecond
	// maxCachedCandidates bounds the local candidates kept to be sent
	// again after a crossed restart.
	maxCachedCandidates = 64
	// controlAckTimeout is how long a control stream waits for the peer
	// to close it (see sendControlStream).
	controlAckTimeout = 2 * time.Second
	// maxQueuedControl bounds the control messages waiting to go on
	// control streams.
	maxQueuedControl = 256
)

// restartState is a leg's ICE restart bookkeeping.
type restartState struct {
	// op serialises the restarts of the leg's ICE agent (this side's and
	// the peer's); nothing blocks on the network under it.
	op sync.Mutex
	mu sync.Mutex
	// gen is the generation of this side's last restart request, pending
	// the one still unanswered (0: none).
	gen, pending uint32
	// peerGen is the generation of the peer's last request seen.
	peerGen uint32
	// turnExpires is when the TURN credentials the leg's agent gathered
	// with expire (zero: none).
	turnExpires time.Time
	// last is when ICE last restarted here, for restartBackoff, and
	// count how many times it did (either side's restart).
	last  time.Time
	count int
	// cands are the local candidates of the current ICE generation, and
	// done whether gathering finished, to be sent again when both sides
	// restarted at once (one side's trickle may have gone down a dead
	// stream).
	cands []string
	done  bool
	// netChanged is when this device's own network last changed, and
	// peerSeen when the peer last sent a valid ice-restart or reply:
	// either says a silent path is being mended, not that the peer is
	// gone (see watchPeer).
	netChanged, peerSeen time.Time
	// peerRestartAt is when this side last followed a restart the peer
	// asked for (see peerRestartGap).
	peerRestartAt time.Time
	// queue holds control messages for control streams, sent in order by
	// one goroutine while sending is true.
	queue   [][]byte
	sending bool
}

// queueControl sends a signed control message on a control stream of its
// own, after those queued before it, without blocking: a restart must not
// wait on the network (the peer may be dialling this side at the same
// time), and the order of a restart and its candidates must hold.
func (l *leg) queueControl(b []byte) {
	l.rs.mu.Lock()
	defer l.rs.mu.Unlock()
	if len(l.rs.queue) >= maxQueuedControl {
		l.c.svc.Log.Info("control queue full; message dropped", "call", CallIDString(l.c.id))
		return
	}
	l.rs.queue = append(l.rs.queue, b)
	if !l.rs.sending {
		l.rs.sending = true
		go l.drainControl()
	}
}

func (l *leg) drainControl() {
	for {
		l.rs.mu.Lock()
		if len(l.rs.queue) == 0 {
			l.rs.sending = false
			l.rs.mu.Unlock()
			return
		}
		b := l.rs.queue[0]
		l.rs.queue = l.rs.queue[1:]
		l.rs.mu.Unlock()
		l.c.svc.refreshPeerAddrs(l.c.peer, l.device)
		l.c.svc.sendControlStream(l.device, b)
	}
}

// noteLocalCandidate records a local candidate ("" = gathering done) of
// the current ICE generation.
func (l *leg) noteLocalCandidate(cand string) {
	l.rs.mu.Lock()
	defer l.rs.mu.Unlock()
	switch {
	case cand == "":
		l.rs.done = true
	case len(l.rs.cands) < maxCachedCandidates:
		l.rs.cands = append(l.rs.cands, cand)
	}
}

// resetCandidatesLocked starts a new ICE generation's candidate list.
func (l *leg) resetCandidatesLocked() {
	l.rs.cands, l.rs.done = nil, false
}

// watchPath runs while the call's media is up: it restarts ICE when this
// device's addresses change or when the path goes silent.
func (l *leg) watchPath() {
	c := l.c
	t := time.NewTicker(pathWatchInterval)
	defer t.Stop()
	addrs := upAddrs()
	base := addrs // the addresses ICE last gathered on
	l.rs.mu.Lock()
	l.rs.turnExpires = c.svc.turnExpiry()
	l.rs.mu.Unlock()
	var (
		changed     bool // the addresses differ from those ICE gathered on
		lastPackets uint64
		lastFlowing time.Time
	)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		// A network change restarts once the addresses hold still for one
		// interval (an interface going down and another coming up are
		// separate events) and some address is up.
		cur := upAddrs()
		if !slices.Equal(cur, addrs) {
			if !changed {
				c.svc.Log.Info("network changed", "call", CallIDString(c.id), "addresses", len(cur))
			}
			changed, addrs = true, cur
			continue
		}
		if changed && len(cur) > 0 {
			changed = false
			if slices.ContainsFunc(base, func(a netip.Addr) bool { return !slices.Contains(cur, a) }) {
				l.leaveDeadConns(cur)
			}
			base = cur
			l.rs.mu.Lock()
			l.rs.netChanged = now
			l.rs.mu.Unlock()
			l.restart("network changed")
			continue
		}
		l.rs.mu.Lock()
		exp, recent := l.rs.turnExpires, now.Sub(l.rs.last) < restartBackoff
		l.rs.mu.Unlock()
		if !exp.IsZero() && exp.Sub(now) < turnRenewBefore && !recent && l.tl.Path().Local == "relay" {
			l.restart("TURN credentials expire")
			continue
		}
		st := l.media.Stats()
		if st.PacketsReceived+st.RTCPReceived >= lastPackets+flowingPackets {
			lastFlowing = now
		}
		lastPackets = st.PacketsReceived + st.RTCPReceived
		if st.LastReceived.IsZero() {
			continue
		}
		silent := now.Sub(st.LastReceived)
		limit := quietSilenceRestart
		if now.Sub(lastFlowing) < silent+2*pathWatchInterval {
			limit = silenceRestart
		}
		if !c.outgoing {
			// The caller (the controlling side) leads restarts for
			// silence; the callee waits longer, so the two seldom cross.
			limit *= calleeSilenceFactor
		}
		l.rs.mu.Lock()
		recent = now.Sub(l.rs.last) < max(restartBackoff, limit)
		l.rs.mu.Unlock()
		if silent > limit && !recent {
			l.restart("media silent for " + silent.Round(time.Millisecond).String())
		}
	}
}

// refreshServers gives the leg's agent the current STUN and TURN servers,
// with credentials that are not about to expire, for the gathering of a
// restart.
func (l *leg) refreshServers() {
	svc := l.c.svc
	servers := svc.iceServers(l.c.ctx)
	if err := l.tl.SetServers(servers); err != nil {
		svc.Log.Info("ICE servers not updated", "call", CallIDString(l.c.id), "err", err)
		return
	}
	l.rs.mu.Lock()
	l.rs.turnExpires = svc.turnExpiry()
	l.rs.mu.Unlock()
}

// turnExpiry is when the cached TURN credentials expire.
func (svc *Service) turnExpiry() time.Time {
	svc.turnMu.Lock()
	defer svc.turnMu.Unlock()
	if len(svc.turnServers) == 0 {
		return time.Time{}
	}
	return svc.turnExpires
}

// restarts returns how many times the leg's ICE restarted.
func (l *leg) restarts() int {
	l.rs.mu.Lock()
	defer l.rs.mu.Unlock()
	return l.rs.count
}

// upAddrs lists the addresses of the interfaces that are up, loopback
// excepted, sorted.
func upAddrs() []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().Unmap())
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// leaveDeadConns closes this host's connections that may have run from
// an address that is gone (its interface went down): those bound to it,
// and those on a wildcard socket (QUIC), whose packets now leave from the
// new address, which the peer does not take for the connection's. libp2p
// would go on writing into them until a timeout, and the restart must
// reach the peer now. When the call's signalling stream was on one, later
// control messages go on streams of their own, over a new connection.
func (l *leg) leaveDeadConns(up []netip.Addr) {
	svc := l.c.svc
	alive := func(c network.Conn) bool {
		ip, err := manet.ToIP(c.LocalMultiaddr())
		if err != nil {
			return true // not an IP connection
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok || a.IsLoopback() {
			return true
		}
		_, found := slices.BinarySearchFunc(up, a.Unmap(), netip.Addr.Compare)
		return found
	}
	l.wmu.Lock()
	if l.s != nil && !alive(l.s.Conn()) {
		l.sigLost.Store(true)
	}
	l.wmu.Unlock()
	for _, conn := range svc.Host.Network().Conns() {
		if !alive(conn) {
			svc.Log.Debug("closing a connection on a vanished address", "peer", conn.RemotePeer())
			_ = conn.Close()
		}
	}
	// A relayed signalling stream rode one of them; it is gone too.
	if l.relayedSignalling() {
		l.sigLost.Store(true)
	}
	go svc.pres.RenewRelaySlots(svc.runCtx())
}

// restart starts an ICE restart from this side and asks the peer to
// follow.
func (l *leg) restart(why string) {
	c := l.c
	l.rs.mu.Lock()
	l.rs.last = time.Now()
	l.rs.count++
	l.rs.mu.Unlock()
	c.svc.Log.Info("restarting ICE", "call", CallIDString(c.id), "why", why)
	// The peer may have to reach this device anew through a relay (its
	// path here is gone); a bootstrap that restarted may hold no slot
	// for it any more.
	go c.svc.pres.RenewRelaySlots(c.svc.runCtx())
	l.rs.op.Lock()
	defer l.rs.op.Unlock()
	l.refreshServers()
	err := l.tl.Restart("", "", func(ufrag, pwd string) {
		l.rs.mu.Lock()
		l.rs.gen++
		l.rs.pending = l.rs.gen
		gen := l.rs.gen
		l.resetCandidatesLocked()
		l.rs.mu.Unlock()
		l.sendControl(&callproto.Control{Type: callproto.ControlICERestart, ICEUfrag: ufrag, ICEPwd: pwd, Generation: gen})
	})
	if err != nil {
		c.svc.Log.Info("ICE restart failed", "call", CallIDString(c.id), "err", err)
	}
}

// onRestart handles the peer's ice-restart or ice-restart-reply.
func (l *leg) onRestart(m *callproto.Control) {
	c := l.c
	c.mu.Lock()
	ready := l.tl != nil && l.media != nil && c.winner == l
	c.mu.Unlock()
	if !ready {
		c.svc.sigDropped.Add(1)
		return
	}
	if m.Type == callproto.ControlICERestartReply {
		l.rs.mu.Lock()
		ok := l.rs.pending != 0 && m.Generation == l.rs.pending
		if ok {
			l.rs.pending = 0
			l.rs.peerSeen = time.Now()
		}
		l.rs.mu.Unlock()
		if !ok {
			return // an answer to an earlier request: a later one is under way
		}
		if err := l.tl.SetRemoteCredentials(m.ICEUfrag, m.ICEPwd); err != nil {
			c.svc.Log.Info("ICE restart reply refused", "call", CallIDString(c.id), "err", err)
		}
		return
	}
	l.rs.op.Lock()
	defer l.rs.op.Unlock()
	l.rs.mu.Lock()
	if m.Generation <= l.rs.peerGen {
		l.rs.mu.Unlock()
		c.svc.sigDropped.Add(1)
		return
	}
	if now := time.Now(); now.Sub(l.rs.peerRestartAt) < peerRestartGap {
		// A peer restarting faster than any network change or silence
		// makes it do is followed once per peerRestartGap: every restart
		// gathers anew (a TURN allocation per server) and drops the path
		// for a moment. The peer restarts again on silence if it needs to.
		l.rs.mu.Unlock()
		c.svc.sigDropped.Add(1)
		return
	}
	l.rs.peerRestartAt = time.Now()
	l.rs.peerGen = m.Generation
	l.rs.peerSeen = time.Now()
	crossed := l.rs.pending != 0
	l.rs.pending = 0
	l.rs.last = time.Now()
	if !crossed {
		l.rs.count++
	}
	l.rs.mu.Unlock()
	c.svc.Log.Info("peer restarted ICE", "call", CallIDString(c.id), "crossed", crossed)
	reply := func(ufrag, pwd string) {
		l.sendControl(&callproto.Control{Type: callproto.ControlICERestartReply, ICEUfrag: ufrag, ICEPwd: pwd, Generation: m.Generation})
	}
	if crossed {
		// Both sides restarted at once: this side's agent has restarted
		// already and only needs the peer's credentials. The peer may
		// have missed this side's request and candidates (they can have
		// gone down the stream that died), so they go again.
		if err := l.tl.SetRemoteCredentials(m.ICEUfrag, m.ICEPwd); err != nil {
			c.svc.Log.Info("ICE restart refused", "call", CallIDString(c.id), "err", err)
			return
		}
		reply(l.tl.LocalCredentials())
		l.rs.mu.Lock()
		cands, done := slices.Clone(l.rs.cands), l.rs.done
		l.rs.mu.Unlock()
		for _, cand := range cands {
			l.sendControl(&callproto.Control{Type: callproto.ControlCandidate, Candidate: cand})
		}
		if done {
			l.sendControl(&callproto.Control{Type: callproto.ControlEndOfCandidates})
		}
		return
	}
	l.refreshServers()
	err := l.tl.Restart(m.ICEUfrag, m.ICEPwd, func(ufrag, pwd string) {
		l.rs.mu.Lock()
		l.resetCandidatesLocked()
		l.rs.mu.Unlock()
		reply(ufrag, pwd)
	})
	if err != nil {
		c.svc.Log.Info("ICE restart failed", "call", CallIDString(c.id), "err", err)
	}
}

// adoptControlConn is called when the peer sent an ICE restart or a
// candidate on a control stream of its own: it has lost the signalling
// stream (its network changed), so this side sends on control streams
// too, and drops the peer's other connections, which are dead (they ran
// from an address the peer no longer has) and would swallow what is sent
// on them until they time out.
func (l *leg) adoptControlConn(conn network.Conn, restart bool) {
	l.sigLost.Store(true)
	if !restart {
		return
	}
	for _, o := range l.c.svc.Host.Network().ConnsToPeer(conn.RemotePeer()) {
		if o != conn {
			_ = o.Close()
		}
	}
}

// addrRefreshTimeout bounds the lookup of a peer device's addresses when a
// control message must reach it and this host knows none.
const addrRefreshTimeout = 3 * time.Second

// refreshPeerAddrs makes sure the peerstore has addresses to reach device
// d of account acct on when no connection to it is up: after a network
// change every connection is gone, and libp2p soon forgets the addresses
// it learnt from them. It adds the circuit addresses through each
// connected bootstrap (where a NATed device holds a relay reservation)
// and the addresses of the device's presence record.
func (svc *Service) refreshPeerAddrs(acct pcrypto.AccountID, d pcrypto.DeviceID) {
	pid := peerOf(d)
	if svc.Host.Network().Connectedness(pid) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(svc.runCtx(), addrRefreshTimeout)
	defer cancel()
	// Right after a network change the bootstraps are being dialled
	// again; a circuit through one needs the connection to it.
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !slices.ContainsFunc(svc.pres.Bootstraps(), func(bs peer.AddrInfo) bool { return svc.pres.Connected(bs.ID) }) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	// Dials that failed while the network was changing put the peer's
	// addresses on the swarm's dial backoff (5 s and more); they are
	// worth trying again now.
	if b, ok := svc.Host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		b.Backoff().Clear(pid)
	}
	var addrs []ma.Multiaddr
	for _, bs := range svc.pres.Bootstraps() {
		if !svc.pres.Connected(bs.ID) {
			continue
		}
		circuit := ma.StringCast("/p2p/" + bs.ID.String() + "/p2p-circuit")
		for _, a := range bs.Addrs {
			addrs = append(addrs, a.Encapsulate(circuit))
		}
	}
	svc.Host.Peerstore().AddAddrs(pid, addrs, peerstore.RecentlyConnectedAddrTTL)
	// The peer may not be reachable through a bootstrap's relay (it holds
	// no slot there, or it is public): its presence record says where it
	// is. The lookup is bounded tightly (a DHT that lost a node can take
	// seconds to answer).
	lctx, lcancel := context.WithTimeout(ctx, presenceLookupTimeout)
	defer lcancel()
	if p, err := svc.pres.ResolvePresence(lctx, acct, d); err == nil {
		svc.Host.Peerstore().AddAddrs(pid, p.Addrs, peerstore.RecentlyConnectedAddrTTL)
	}
	// The record (and what identify said before) may list circuits
	// through a bootstrap that died: a dial through it would hold up the
	// others for seconds.
	svc.pres.DropDeadCircuits(pid, nil)
}

// presenceLookupTimeout bounds the presence lookup of refreshPeerAddrs.
const presenceLookupTimeout = time.Second

// ErrNotConnected is returned by RestartICE for a call whose media is not
// up.
var ErrNotConnected = errors.New("the call is not connected")

// RestartICE restarts ICE on a connected call now, as a network change
// does (docs/protocol.md, "ICE restart"). a.CallID names the call; empty
// means the only active one.
func (svc *Service) RestartICE(a apitype.CallAction) error {
	c, err := svc.findCall(a.CallID, func(*Call) bool { return true })
	if err != nil {
		return err
	}
	c.mu.Lock()
	l := c.winner
	c.mu.Unlock()
	if l == nil || !c.mediaUp(l) {
		return ErrNotConnected
	}
	l.restart("asked to")
	return nil
}

// mending reports whether a silent path is being mended rather than the
// peer gone: this device's network changed, or the peer sent a valid
// restart message, within restartGrace of now.
func (l *leg) mending(now time.Time) bool {
	l.rs.mu.Lock()
	defer l.rs.mu.Unlock()
	return now.Sub(l.rs.netChanged) < restartGrace || now.Sub(l.rs.peerSeen) < restartGrace
}

// restartPending reports whether this side's last ICE restart still waits
// for the peer's answer.
func (l *leg) restartPending() bool {
	l.rs.mu.Lock()
	defer l.rs.mu.Unlock()
	return l.rs.pending != 0
}
