package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// FailoverResult is what the end of a relayed call's TURN server cost the
// call.
type FailoverResult struct {
	// Killed is the address of the bootstrap that was killed.
	Killed netip.Addr
	// CallerGap and CalleeGap are the longest silence each end heard.
	CallerGap, CalleeGap time.Duration
	// Resumed is how long after the kill both ends received media again.
	Resumed time.Duration
	// Before and After are the caller's path before the kill and once
	// media flowed again.
	Before, After apitype.CallPath
}

// relayServer returns the address of the TURN server that relays a path:
// the host of its relay candidate (bootstraps relay on their own address).
func relayServer(p apitype.CallPath) (netip.Addr, bool) {
	addr := ""
	switch {
	case p.Local == "relay":
		addr = p.LocalAddress
	case p.Remote == "relay":
		addr = p.RemoteAddress
	default:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr(), true
}

// RunFailover places a relayed call from the session's caller to its
// callee (the session needs two bootstraps), lets media flow for settle,
// kills the bootstrap whose TURN server relays the call (SIGKILL: its
// TURN allocations and its circuit relay vanish at once) and measures the
// gap at both ends until media flows again through the other one, and for
// settle after that. Then it hangs up. The killed bootstrap stays down.
func (s *Session) RunFailover(ctx context.Context, caller, callee Kind, settle time.Duration) (FailoverResult, error) {
	var r FailoverResult
	from, to := s.Callers[caller], s.Callees[callee]
	if from == nil || to == nil || s.Bootstrap2 == nil {
		return r, fmt.Errorf("%w: need a %v caller, a %v callee and two bootstraps", ErrBadOptions, caller, callee)
	}
	// Both ends must be reachable through either bootstrap before the
	// call, as daemons that have run for a while are: the failover is
	// the subject here, not how soon after its start a daemon holds a
	// second relay slot.
	for _, d := range []*Daemon{from, to} {
		if d.Site.Kind.NATed() {
			if err := d.waitRelayAddrs(ctx, 2); err != nil {
				return r, err
			}
		}
	}
	id, err := s.placeCall(ctx, from, to)
	if err != nil {
		return r, err
	}
	defer func() { _, _ = from.CLI(context.WithoutCancel(ctx), "hangup", id) }()
	if err := s.steady(ctx, from, to, id, settle); err != nil {
		return r, err
	}
	// The path is read until it names a relay: on a loaded machine a
	// stall of media can make the caller restart ICE before the kill, and
	// a call between restarts has no path for a moment.
	var relay netip.Addr
	if err := wait.For(ctx, 10*time.Second, func() error {
		c, err := from.Call(ctx, id)
		if err != nil {
			return err
		}
		r.Before = c.Path
		var ok bool
		if relay, ok = relayServer(c.Path); !ok {
			return fmt.Errorf("the call is not relayed: %s", pathText(c.Path))
		}
		return nil
	}); err != nil {
		return r, err
	}
	r.Killed = relay
	g, err := s.watchGaps(ctx, id, from, to)
	if err != nil {
		return r, err
	}
	victim := s.Bootstrap
	switch relay {
	case BootstrapAddr:
	case Bootstrap2Addr:
		victim = s.Bootstrap2
	default:
		return r, fmt.Errorf("the call is relayed by %v, no bootstrap of the lab", relay)
	}
	victim.Proc.Kill()
	gaps, resumed, path, err := g.wait(ctx)
	if err != nil {
		return r, fmt.Errorf("after killing the bootstrap at %v: %w", relay, err)
	}
	r.CallerGap, r.CalleeGap, r.Resumed, r.After = gaps[0], gaps[1], resumed, path
	s.Lab.logf("natlab: bootstrap at %v killed: gaps caller %v, callee %v; path %s", relay, gaps[0], gaps[1], pathText(path))
	if err := s.steady(ctx, from, to, id, settle); err != nil {
		return r, err
	}
	if c, err := from.Call(ctx, id); err == nil {
		r.After = c.Path
	}
	return r, nil
}
