package calls

import (
	"fmt"
	"time"

	"github.com/parleyhq/parley/internal/liveness"
	"github.com/parleyhq/parley/node/callproto"
)

// Peer-loss detection during a connected call. A daemon that is killed
// closes nothing this side can see when the call's libp2p connection is
// QUIC (the connection lingers until its idle timeout, ~30 s) and ICE only
// gives up after DisconnectedTimeout+FailedTimeout (15 s). The peer's media
// path is never silent for long while it lives: it sends RTCP reports at
// least every 1.5 s even when it sends no RTP. So a leg that has received
// nothing authenticated for silenceLimit probes the peer's daemon over the
// call's signalling connection; if that does not answer within
// liveness.Timeout either, the call ends. Unless the path is being mended
// (restart.go): after this device's network changed, or while the peer
// sends ICE restart messages, the old connection is expected dead; any
// connection to the device is probed instead, and the call survives up to
// restartGiveUp of silence.
const (
	// silenceLimit is how long the peer's media may stay silent before
	// its daemon is probed.
	silenceLimit = 2500 * time.Millisecond
	// pendingRestartLimit is the silence a call survives while this
	// side's ICE restart waits for the peer's answer (a relay failover:
	// the restart goes over a new connection through another relay).
	pendingRestartLimit = 4 * time.Second
	// watchTick is how often the received-packet count is sampled.
	watchTick = 250 * time.Millisecond
)

// watchPeer ends the call when the peer's device stops sending and its
// daemon stops answering; it returns when the call ends.
func (l *leg) watchPeer() {
	c := l.c
	t := time.NewTicker(watchTick)
	defer t.Stop()
	received := func() uint64 {
		st := l.media.Stats()
		return st.PacketsReceived + st.RTCPReceived
	}
	last, lastAt := received(), time.Now()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if n := received(); n != last {
			last, lastAt = n, time.Now()
			continue
		}
		silent := time.Since(lastAt)
		if silent < silenceLimit {
			continue
		}
		err := l.probePeer()
		if err == nil {
			// The daemon lives (its media path may be recovering): look
			// again after another silenceLimit.
			c.svc.Log.Info("peer silent but its daemon answers", "call", CallIDString(c.id), "silent", silent.Round(time.Millisecond))
			lastAt = time.Now()
			continue
		}
		if c.ctx.Err() != nil {
			return
		}
		if (l.mending(time.Now()) && silent < restartGiveUp) || (l.restartPending() && silent < pendingRestartLimit) {
			// This device's network changed, or the peer is restarting
			// ICE with us: the old connection is dead, the peer is not.
			continue
		}
		c.svc.Log.Info("peer stopped responding", "call", CallIDString(c.id), "silent", time.Since(lastAt).Round(time.Millisecond), "err", err)
		c.end(fmt.Sprintf("the other side stopped responding: no media from its device for %.1f s and its daemon does not answer",
			time.Since(lastAt).Seconds()), callproto.ControlHangup)
		return
	}
}

// probePeer checks that the peer's daemon is still there: a ping on every
// connection to the device at once (the call's signalling connection among
// them; one that does not answer is closed). Any answer will do: after the
// peer moved to another network, the connection it opened from there (to
// send its ICE restart) answers while the signalling one is dead.
func (l *leg) probePeer() error {
	c := l.c
	if liveness.ProbePeer(c.ctx, c.svc.Host.Network(), peerOf(l.device)) == 0 {
		return liveness.ErrDead
	}
	return nil
}
