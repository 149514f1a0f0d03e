package calls

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/service"
)

// A spare leg is one callee-side ICE leg gathered ahead of need: its host
// and server-reflexive candidates and a TURN allocation on each connected
// bootstrap are ready when a call is answered, so the answer's candidates
// go out with it instead of two round trips to the TURN server later. The
// NAT lab measured that gathering as the largest part of a relayed call's
// setup after the answer (docs/connectivity.md).
//
// A spare costs one allocation per bootstrap while the device is idle. It
// is replaced before the TURN credentials it was made with run out (the
// server refuses to refresh an allocation on expired credentials), at the
// latest after spareMaxAge (its NAT mappings and host addresses may have
// changed), and at
// once when a bootstrap connection drops (its allocation there may be
// gone). The caller side gathers from the moment its offer is sent
// instead (see ringErr), which overlaps the offer's round trip.
const (
	// spareMaxAge bounds how long a spare leg is kept unused. It is
	// below the 30 s a NAT commonly keeps an idle UDP mapping (Linux's
	// conntrack default for a flow that has had an answer is 120 s, for
	// one that has not 30 s; home routers vary): nothing is sent on the
	// spare's sockets while it waits, so behind a symmetric NAT its TURN
	// allocation's mapping was gone when a call came after 30 s idle and
	// the call failed (the NAT lab's matrix, 3 calls per cell). The cost
	// is one TURN allocation per bootstrap every 25 s while idle (the old
	// one is released); keeping the mappings alive instead is a next step.
	spareMaxAge = 25 * time.Second
	// spareCredMargin is how long the spare's TURN credentials must still
	// be valid for it to be used.
	spareCredMargin = 2 * time.Minute
	// spareCheck is how often the spare is checked and remade.
	spareCheck = 5 * time.Second
	// spareRetry is the wait while no spare can be made yet (records not
	// published, no bootstrap connected, a call in progress).
	spareRetry = time.Second
)

// spareLeg holds the spare leg.
type spareLeg struct {
	mu      sync.Mutex
	used    uint64 // answers that took a spare
	leg     *calltransport.Leg
	made    time.Time
	expires time.Time // of the TURN credentials it was made with
	kick    chan struct{}
}

// fresh reports whether the held spare can still be used at now; s.mu is
// held.
func (s *spareLeg) freshLocked(now time.Time) bool {
	return s.leg != nil && now.Sub(s.made) < spareMaxAge && (s.expires.IsZero() || s.expires.Sub(now) > spareCredMargin)
}

// take returns the spare leg if it is fresh (nil if not), and wakes the
// loop to make the next one.
func (svc *Service) takeSpare() *calltransport.Leg {
	s := &svc.spare
	s.mu.Lock()
	var l *calltransport.Leg
	if s.freshLocked(time.Now()) {
		l = s.leg
		s.leg = nil
		s.used++
	}
	s.mu.Unlock()
	service.Kick(s.kick)
	return l
}

// SpareLeg reports whether a fresh spare leg is ready now and how many
// answers took one.
func (svc *Service) SpareLeg() (ready bool, used uint64) {
	s := &svc.spare
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freshLocked(time.Now()), s.used
}

// dropSpare closes the spare leg, if any.
func (svc *Service) dropSpare() {
	s := &svc.spare
	s.mu.Lock()
	l := s.leg
	s.leg = nil
	s.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
}

// spareLoop keeps a fresh spare leg until ctx is done, and closes it then.
func (svc *Service) spareLoop(ctx context.Context) {
	defer svc.dropSpare()
	sub, err := svc.Host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		svc.Log.Warn("no spare ICE leg: subscribing to host events failed", "err", err)
		return
	}
	defer sub.Close()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-svc.spare.kick:
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			if !svc.pres.IsBootstrap(ev.Peer) {
				continue
			}
			// A bootstrap that dropped may have lost our allocation
			// there: remake with those left. One that connected may
			// make a spare possible.
			if ev.Connectedness != network.Connected {
				svc.dropSpare()
			}
		}
		next := spareCheck
		if !svc.refillSpare(ctx) {
			next = spareRetry
		}
		t.Reset(next)
	}
}

// refillSpare makes a spare leg if there is none or it went stale, and
// reports whether one is held. No spare is made during a call (the call's
// own legs hold allocations), before this device's records are published
// (a bootstrap gives TURN credentials only to a device whose account record
// it holds, and remembers a refusal for a while), nor while no bootstrap is
// connected.
func (svc *Service) refillSpare(ctx context.Context) bool {
	s := &svc.spare
	now := time.Now()
	s.mu.Lock()
	fresh := s.freshLocked(now)
	s.mu.Unlock()
	if fresh {
		return true
	}
	svc.dropSpare()
	if svc.busy() || ctx.Err() != nil || svc.pres.Published().IsZero() {
		return false
	}
	cfg := svc.iceConfig(ctx, false)
	if len(cfg.Servers) == 0 {
		return false
	}
	svc.turnMu.Lock()
	expires := svc.turnExpires
	svc.turnMu.Unlock()
	l, err := calltransport.NewLeg(cfg)
	if err != nil {
		svc.Log.Debug("no spare ICE leg", "err", err)
		return false
	}
	if err := l.Gather(); err != nil {
		_ = l.Close()
		svc.Log.Debug("no spare ICE leg", "err", err)
		return false
	}
	s.mu.Lock()
	old := s.leg
	s.leg, s.made, s.expires = l, now, expires
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return true
}

// calleeLeg is the ICE leg an answer uses: the spare if it is fresh, else
// a new one.
func (svc *Service) calleeLeg(ctx context.Context) (*calltransport.Leg, error) {
	if l := svc.takeSpare(); l != nil {
		return l, nil
	}
	return calltransport.NewLeg(svc.iceConfig(ctx, false))
}
