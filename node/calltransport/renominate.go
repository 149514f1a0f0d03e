package calltransport

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// Moving a relayed call to a direct path (controlling side only).
//
// pion's automatic renomination checks every pair that has not failed on
// each keepalive tick for the whole call, which on a host with a few
// interfaces is dozens of STUN requests and responses a second, some of
// them through TURN, although the call is direct (issue 16 item 12). This
// package leaves it off and does the one thing it was for: while the
// selected pair has a relay end, it sends a renomination request on each
// direct pair that has not failed (at most maxProbes), every
// RenominationInterval at first and then less often (doubling up to
// maxProbeBackoff). A pair that answers is switched to by pion at once (the
// controlled side follows once its own check on the pair succeeds); one
// that does not costs one request. Pairs with host candidates at both ends
// are probed alone first (the last pair to answer would win), then with
// srflx/prflx ends too. Once a direct pair is selected, nothing
// but consent checks on it and media remain.
const (
	// maxProbes bounds the direct pairs probed per round.
	maxProbes = 8
	// maxProbeBackoff bounds the interval between probe rounds, in
	// multiples of RenominationInterval.
	maxProbeBackoff = 16
)

// probePair is a direct candidate pair to send a renomination request on.
type probePair struct{ local, remote ice.Candidate }

// onBindingRequest runs on pion's agent loop for each binding request the
// controlling agent receives (the controlled side's checks and consent
// checks on the selected pair, every KeepaliveInterval). It sends the
// renomination requests the probe loop has queued: pion's
// RenominateCandidate must run on the agent loop, and this hook is the
// agent's only one there.
func (l *Leg) onBindingRequest(_ *stun.Message, _, _ ice.Candidate, _ *ice.CandidatePair) bool {
	l.probeMu.Lock()
	probes := l.probes
	l.probes = nil
	l.probeMu.Unlock()
	for _, p := range probes {
		if err := l.agent.RenominateCandidate(p.local, p.remote); err != nil {
			l.log.Debug("renomination probe not sent", "err", err)
		}
	}
	return false
}

// probeLoop queues renomination probes while the selected pair is
// relayed; it returns when the leg fails or is closed.
func (l *Leg) probeLoop() {
	defer l.wg.Done()
	interval := l.cfg.RenominationInterval
	wait := interval
	// level is the most non-host ends a probed pair may have: host↔host
	// pairs are probed alone first, since the last pair to answer wins.
	level := 0
	for {
		t := time.NewTimer(wait)
		select {
		case <-l.closed:
			t.Stop()
			return
		case <-l.failed:
			t.Stop()
			return
		case <-t.C:
		}
		p := l.Path()
		if p.Local == "" || (p.Local != "relay" && p.Remote != "relay") {
			wait, level = interval, 0 // direct (or no pair): nothing to send
			continue
		}
		probes := l.directPairs(level)
		level = min(level+1, 2)
		l.probeMu.Lock()
		l.probes = probes
		l.probeMu.Unlock()
		if len(probes) > 0 {
			l.log.Debug("probing direct pairs", "pairs", len(probes))
			wait = min(2*wait, maxProbeBackoff*interval)
		}
	}
}

// directPairs returns up to maxProbes pairs with no relay end and at most
// level non-host ends that have not failed, host↔host first.
func (l *Leg) directPairs(level int) []probePair {
	locals, err := l.agent.GetLocalCandidates()
	if err != nil {
		return nil
	}
	remotes, err := l.agent.GetRemoteCandidates()
	if err != nil {
		return nil
	}
	byID := map[string]ice.Candidate{}
	for _, c := range slices.Concat(locals, remotes) {
		byID[c.ID()] = c
	}
	// l.mu is not held while calling the agent: onBindingRequest runs on
	// its loop.
	l.mu.Lock()
	relays := maps.Clone(l.remoteRelays)
	l.mu.Unlock()
	relayAddr := func(c ice.Candidate) bool {
		return relays[net.JoinHostPort(c.Address(), strconv.Itoa(c.Port()))]
	}
	var out []probePair
	for _, st := range l.agent.GetCandidatePairsStats() {
		if st.State == ice.CandidatePairStateFailed {
			continue
		}
		lc, rc := byID[st.LocalCandidateID], byID[st.RemoteCandidateID]
		if lc == nil || rc == nil || lc.Type() == ice.CandidateTypeRelay || rc.Type() == ice.CandidateTypeRelay || relayAddr(rc) {
			continue
		}
		out = append(out, probePair{local: lc, remote: rc})
	}
	rank := func(p probePair) int {
		r := 0
		for _, c := range []ice.Candidate{p.local, p.remote} {
			if c.Type() != ice.CandidateTypeHost {
				r++
			}
		}
		return r
	}
	out = slices.DeleteFunc(out, func(p probePair) bool { return rank(p) > level })
	slices.SortStableFunc(out, func(a, b probePair) int { return rank(a) - rank(b) })
	return out[:min(len(out), maxProbes)]
}
