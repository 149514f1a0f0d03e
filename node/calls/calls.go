package calls

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/turnstream"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/media"
	"github.com/parleyhq/parley/store"
)

// CallProtocol carries a call's signalling between two devices: one stream
// per device rung, carrying length-prefixed signed messages (offer, answer,
// control); see docs/protocol.md.
const CallProtocol = "/parley/call/1.0.0"

// Call timing.
const (
	// ringTimeout is how long a call rings before it is given up.
	ringTimeout = 60 * time.Second
	// connectTimeout bounds ICE after the answer.
	connectTimeout = 20 * time.Second
	// confirmWait is how long the callee waits, after its answer, for the
	// caller's SAS confirmation before it marks the call unverified.
	confirmWait = 5 * time.Second
	// keepEnded is how many ended calls `calls` still lists.
	keepEnded = 20
)

// Errors of the call API.
var (
	// ErrNoSuchCall is returned for a call ID that is not known, or when no
	// ID is given and no single call fits.
	ErrNoSuchCall = errors.New("no such call")
	// ErrUnreachable is returned when no device of the called account is
	// online.
	ErrUnreachable = errors.New("no device of the account is online")
)

// Call is one call, outgoing or incoming.
type Call struct {
	svc      *Service
	id       callproto.CallID
	conf     callproto.CallID // the conference this call belongs to (zero for 1:1); set at creation, never changed
	outgoing bool
	peer     pcrypto.AccountID
	started  time.Time
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the call ended

	// decide receives the callee's answer (true) or decline (false).
	decide chan callDecision

	mu         sync.Mutex // guards the following fields
	state      State
	reason     string
	sas        string
	unverified bool   // the callee's confirm wait ran out (see confirmWait)
	recordErr  string // why received media is not recorded, if it is not
	peerDevice pcrypto.DeviceID
	firstRecv  time.Time
	winner     *leg // the answered leg
	legs       []*leg
	ended      bool
	sources    []*sendStream
	sinks      map[string]*recvStream // by kind
	opts       apitype.CallRequest
	marks      []callMark // setup timeline, in the order recorded
}

// callMark is one step of the setup timeline.
type callMark struct {
	step apitype.CallStep
	at   time.Time
}

// markAt records that step happened at t, unless it was recorded before
// (steps such as the first media packet are recorded once).
func (c *Call) markAt(step apitype.CallStep, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.marks {
		if m.step == step {
			return
		}
	}
	c.marks = append(c.marks, callMark{step, t})
}

// mark records that step happened now.
func (c *Call) mark(step apitype.CallStep) { c.markAt(step, time.Now()) }

// timelineLocked is the setup timeline for the API; c.mu is held.
func (c *Call) timelineLocked() []apitype.CallMark {
	if len(c.marks) == 0 {
		return nil
	}
	out := make([]apitype.CallMark, 0, len(c.marks))
	for _, m := range c.marks {
		out = append(out, apitype.CallMark{Step: m.step, MS: float64(m.at.Sub(c.started).Microseconds()) / 1000})
	}
	slices.SortStableFunc(out, func(a, b apitype.CallMark) int { return cmp.Compare(a.MS, b.MS) })
	return out
}

// callDecision is the user's choice on a ringing incoming call.
type callDecision struct {
	answer bool
	opts   apitype.CallAction
}

// callIDString is the text form of a call ID.
func CallIDString(id callproto.CallID) string { return hex.EncodeToString(id[:]) }

func ParseCallID(s string) (callproto.CallID, error) {
	var id callproto.CallID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: %q is not a call ID (call IDs are %d hex digits: see parley calls)", service.ErrInvalidInput, truncateText(s, 40), 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// truncateText shortens user input quoted in an error.
func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// step moves the call by in, through the call table, and publishes an
// event of type evType when it moved. Ending is end's (it also tears the
// call down).
func (c *Call) step(in Input, evType apitype.EventType, msg string) {
	c.mu.Lock()
	next, ok := StepCall(c.state, in)
	if !ok || c.ended {
		c.mu.Unlock()
		c.svc.Log.Debug("call input ignored", "call", CallIDString(c.id), "state", c.state, "input", in)
		return
	}
	c.state = next
	c.mu.Unlock()
	if evType != "" {
		c.event(evType, msg)
	}
}

func (c *Call) event(typ apitype.EventType, msg string) {
	c.svc.Events.Publish(apitype.Event{Type: typ, Time: c.svc.Now(), Account: c.peer.String(), Call: CallIDString(c.id), Message: msg})
}

// end ends the call once: it tells every still-open peer leg why (when
// notify is a control type), closes media, wipes the keys and records the
// call in the history.
func (c *Call) end(reason string, notify callproto.ControlType) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.state = StateEnded
	c.reason = reason
	legs := slices.Clone(c.legs)
	sources := c.sources
	sinks := make([]*recvStream, 0, len(c.sinks))
	for _, r := range c.sinks {
		sinks = append(sinks, r)
	}
	c.mu.Unlock()

	for _, l := range legs {
		if notify != "" {
			l.sendControl(&callproto.Control{Type: notify, Reason: reason})
		}
		l.close()
	}
	for _, s := range sources {
		s.src.Close()
	}
	for _, s := range sinks {
		s.sink.Close()
	}
	c.cancel()
	close(c.done)
	c.svc.recordHistory(c)
	service.Kick(c.svc.spare.kick) // idle again: make the next spare leg
	c.event(apitype.EventCallEnded, reason)
	c.svc.Log.Info("call ended", "call", CallIDString(c.id), "peer", c.peer, "reason", reason)
}

// info describes the call for the API.
func (c *Call) info() apitype.Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := apitype.Call{
		ID: CallIDString(c.id), Direction: "incoming", Peer: c.peer.String(), State: string(c.state),
		Reason: c.reason, SAS: c.sas, Unverified: c.unverified, Started: c.started, RecordError: c.recordErr,
		Timeline: c.timelineLocked(),
	}
	if c.outgoing {
		ci.Direction = "outgoing"
	}
	if c.peerDevice != "" {
		ci.PeerDevice = c.peerDevice.String()
	}
	if !c.firstRecv.IsZero() {
		ci.SetupMS = float64(c.firstRecv.Sub(c.started).Microseconds()) / 1000
	}
	if w := c.winner; w != nil && w.tl != nil {
		p := w.tl.Path()
		ci.Path = apitype.CallPath{Local: p.Local, Remote: p.Remote, Network: p.Network, RTTMS: float64(p.RTT.Microseconds()) / 1000,
			LocalAddress: p.LocalAddress, RemoteAddress: p.RemoteAddress}
		if p.Local != "" {
			ci.Path.Kind = "direct"
			if p.Local == "relay" || p.Remote == "relay" {
				ci.Path.Kind = "relay"
			}
		}
		ci.ICERestarts = w.restarts()
		if w.media != nil {
			st := w.media.Stats()
			ci.Dropped = st.Dropped.Garbage + st.Dropped.Truncated + st.Dropped.AuthFailed + st.Dropped.Replayed + st.Dropped.Malformed
			for _, s := range c.sources {
				ci.Streams = append(ci.Streams, apitype.Stream{Direction: "send", Kind: string(s.codec.Kind), Codec: s.codec.Name,
					SSRC: s.ssrc, Packets: s.packets.Load(), Bytes: s.bytes.Load()})
			}
			for _, kind := range []string{"audio", "video"} {
				r, ok := c.sinks[kind]
				if !ok {
					continue
				}
				rs := r.counter.Stats()
				ci.Streams = append(ci.Streams, apitype.Stream{Direction: "receive", Kind: kind, Codec: r.codec.Name,
					SSRC: r.ssrc.Load(), Packets: rs.Packets, Bytes: rs.Bytes, Lost: int64(rs.Lost),
					JitterMS: float64(st.Jitter.Microseconds()) / 1000, GapsMS: gapsMS(r.counter.Gaps())})
				if r.codec == media.PCMU {
					if f, ok := r.counter.DetectTone(toneCandidates); ok {
						ci.ToneHz = f
					}
				}
			}
		}
	}
	return ci
}

// gapsMS converts gaps to milliseconds.
func gapsMS(gaps []time.Duration) []float64 {
	var out []float64
	for _, g := range gaps {
		out = append(out, float64(g.Microseconds())/1000)
	}
	return out
}

// toneCandidates are the frequencies DetectTone looks for in received PCMU:
// 200 Hz to 2 kHz in 10 Hz steps (`--audio tone:HZ` takes any of them).
var toneCandidates = func() []float64 {
	var fs []float64
	for f := 200.0; f <= 2000; f += 10 {
		fs = append(fs, f)
	}
	return fs
}()

// newCall registers a call of conference conf (zero: a 1:1 call).
func (svc *Service) newCall(id callproto.CallID, outgoing bool, peerAcct pcrypto.AccountID, conf callproto.CallID) *Call {
	ctx, cancel := context.WithCancel(svc.runCtx())
	c := &Call{
		svc: svc, id: id, outgoing: outgoing, peer: peerAcct, conf: conf, started: time.Now(),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), decide: make(chan callDecision, 1),
		state: StateCalling, sinks: map[string]*recvStream{},
	}
	if !outgoing {
		c.state = StateRinging
	}
	svc.callsMu.Lock()
	defer svc.callsMu.Unlock()
	if svc.calls == nil {
		svc.calls = map[callproto.CallID]*Call{}
	}
	svc.calls[id] = c
	svc.callOrder = append(svc.callOrder, id)
	svc.pruneCallsLocked()
	return c
}

// pruneCallsLocked forgets the oldest ended calls beyond keepEnded.
func (svc *Service) pruneCallsLocked() {
	ended := 0
	for i := len(svc.callOrder) - 1; i >= 0; i-- {
		c := svc.calls[svc.callOrder[i]]
		select {
		case <-c.done:
			ended++
			if ended > keepEnded {
				delete(svc.calls, svc.callOrder[i])
				svc.callOrder = slices.Delete(svc.callOrder, i, i+1)
			}
		default:
		}
	}
}

// activeCalls returns the calls that have not ended.
func (svc *Service) activeCalls() []*Call {
	svc.callsMu.Lock()
	defer svc.callsMu.Unlock()
	var out []*Call
	for _, id := range svc.callOrder {
		c := svc.calls[id]
		select {
		case <-c.done:
		default:
			out = append(out, c)
		}
	}
	return out
}

// findCall returns the call named by id, or when id is empty the only
// active call for which ok returns true.
func (svc *Service) findCall(id string, ok func(*Call) bool) (*Call, error) {
	if id != "" {
		cid, err := ParseCallID(id)
		if err != nil {
			return nil, err
		}
		svc.callsMu.Lock()
		c := svc.calls[cid]
		svc.callsMu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchCall, id)
		}
		return c, nil
	}
	var match []*Call
	for _, c := range svc.activeCalls() {
		if ok(c) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("%w: no call to act on", ErrNoSuchCall)
	case 1:
		return match[0], nil
	}
	return nil, fmt.Errorf("%w: %d calls fit; name one", ErrNoSuchCall, len(match))
}

// Calls lists the active and recently ended calls, newest first.
func (svc *Service) Calls() []apitype.Call {
	svc.callsMu.Lock()
	order := slices.Clone(svc.callOrder)
	calls := make([]*Call, 0, len(order))
	for _, id := range order {
		calls = append(calls, svc.calls[id])
	}
	svc.callsMu.Unlock()
	out := make([]apitype.Call, 0, len(calls))
	for i := len(calls) - 1; i >= 0; i-- {
		out = append(out, calls[i].info())
	}
	return out
}

// StartCall calls a contact: every online device of the account rings; the
// first to answer gets the call.
func (svc *Service) StartCall(ctx context.Context, req apitype.CallRequest) (*apitype.Call, error) {
	requested := time.Now()
	acct, err := service.ParseAccount("account_id", req.AccountID)
	if err != nil {
		return nil, err
	}
	if acct == svc.ID.AccountCert.ID {
		return nil, fmt.Errorf("%w: cannot call this node's own account", service.ErrInvalidInput)
	}
	if err := checkRecord(req.Record); err != nil {
		return nil, err
	}
	ct, err := svc.Store.Contact(acct)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ct.State != store.Accepted) {
		return nil, fmt.Errorf("%w: %s is not an accepted contact (parley contact add %s, and wait for them to accept)", service.ErrConflict, acct, acct)
	}
	if err != nil {
		return nil, err
	}
	_, results, err := svc.pres.ReachAccount(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	var targets []pcrypto.DeviceID
	for _, r := range results {
		if r.Connected && r.Cert.Device != svc.ID.DeviceCert.Device {
			targets = append(targets, r.Cert.Device)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, acct)
	}
	resolved := time.Now()
	c, err := svc.startCall(acct, targets, req, callproto.CallID{}, func(c *Call) {
		c.mu.Lock()
		c.started = requested // setup counts from the request, lookups included
		c.mu.Unlock()
		c.markAt(apitype.StepRequested, requested)
		c.markAt(apitype.StepResolved, resolved)
	})
	if err != nil {
		return nil, err
	}
	info := c.info()
	return &info, nil
}

// startCall rings the given devices of acct (already connected or
// reachable); conf is the conference the call belongs to, or zero.
// before, if not nil, runs on the call before its legs start.
func (svc *Service) startCall(acct pcrypto.AccountID, targets []pcrypto.DeviceID, req apitype.CallRequest, conf callproto.CallID, before func(*Call)) (*Call, error) {
	sources, err := openSources(req.Audio, req.Video)
	if err != nil {
		return nil, err
	}
	var id callproto.CallID
	if _, err := rand.Read(id[:]); err != nil {
		closeSources(sources)
		return nil, err
	}
	c := svc.newCall(id, true, acct, conf)
	if before != nil {
		before(c)
	}
	c.mu.Lock()
	c.sources, c.opts = sources, req
	for _, d := range targets {
		c.legs = append(c.legs, &leg{c: c, device: d})
	}
	legs := c.legs
	c.mu.Unlock()
	for _, l := range legs {
		go l.ring()
	}
	go c.giveUpUnanswered()
	svc.Log.Info("calling", "call", CallIDString(id), "peer", acct, "devices", len(targets))
	return c, nil
}

// AnswerCall answers a ringing incoming call.
func (svc *Service) AnswerCall(a apitype.CallAction) (*apitype.Call, error) {
	c, err := svc.findCall(a.CallID, func(c *Call) bool { return !c.outgoing && State(c.info().State) == StateRinging })
	if err != nil {
		return nil, err
	}
	if c.outgoing || State(c.info().State) != StateRinging {
		return nil, fmt.Errorf("%w: call %s is %s, not ringing here", service.ErrConflict, CallIDString(c.id), c.info().State)
	}
	if err := checkRecord(a.Record); err != nil {
		return nil, err
	}
	select {
	case c.decide <- callDecision{answer: true, opts: a}:
	default:
		return nil, fmt.Errorf("%w: call %s is already being answered", service.ErrConflict, CallIDString(c.id))
	}
	info := c.info()
	return &info, nil
}

// DeclineCall declines a ringing incoming call.
func (svc *Service) DeclineCall(a apitype.CallAction) error {
	c, err := svc.findCall(a.CallID, func(c *Call) bool { return !c.outgoing && State(c.info().State) == StateRinging })
	if err != nil {
		return err
	}
	select {
	case c.decide <- callDecision{answer: false}:
	default:
	}
	return nil
}

// HangUp ends a call (or stops an outgoing one from ringing).
func (svc *Service) HangUp(a apitype.CallAction) error {
	c, err := svc.findCall(a.CallID, func(*Call) bool { return true })
	if err != nil {
		return err
	}
	if c.outgoing && State(c.info().State) != StateConnected && State(c.info().State) != StateConnecting {
		c.end("cancelled", callproto.ControlCancel)
	} else {
		c.end("hung up", callproto.ControlHangup)
	}
	return nil
}

// randomSSRC returns a random non-zero SSRC.
func randomSSRC() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}

// openStream opens a call signalling stream, allowing relayed connections.
func (svc *Service) openCallStream(ctx context.Context, d pcrypto.DeviceID) (network.Stream, error) {
	ctx = network.WithAllowLimitedConn(ctx, "call")
	return svc.Host.NewStream(ctx, peerOf(d), CallProtocol)
}

// iceConfig is the ICE configuration of a new leg.
func (svc *Service) iceConfig(ctx context.Context, controlling bool) calltransport.Config {
	return calltransport.Config{
		Controlling:     controlling,
		Servers:         svc.iceServers(ctx),
		TURNDialer:      &turnstream.Dialer{Host: svc.Host},
		RelayOnly:       svc.o.ICERelayOnly,
		IncludeLoopback: svc.o.ICELoopback,
		Logger:          svc.Log.With("component", "ice"),
	}
}

// recordHistory stores an ended call in the history.
func (svc *Service) recordHistory(c *Call) {
	ci := c.info()
	c.mu.Lock()
	peerDevice := c.peerDevice
	c.mu.Unlock()
	h := store.CallRecord{
		ID: ci.ID, Direction: ci.Direction, Peer: c.peer, PeerDevice: peerDevice,
		Started: ci.Started, Ended: svc.Now(), Reason: ci.Reason, Answered: !c.firstRecv.IsZero() || ci.SAS != "",
	}
	if err := svc.Store.PutCall(h); err != nil {
		svc.Log.Warn("call history", "err", err)
	}
}

// busy reports whether a one-to-one call is active (conference calls may
// run side by side).
func (svc *Service) busy() bool {
	for _, c := range svc.activeCalls() {
		if c.conf == (callproto.CallID{}) {
			return true
		}
	}
	return false
}

// mediaUp reports whether l is the call's answered leg and its media path
// is connected.
func (c *Call) mediaUp(l *leg) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.winner == l && c.state == StateConnected && !c.ended
}

// mediaUpAny reports whether l is the call's answered leg with media started
// (connected or not: a hang-up must reach it either way).
func (c *Call) mediaUpAny(l *leg) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.winner == l && l.media != nil
}

// giveUpUnanswered ends an outgoing call that is not answered (connected
// or connecting) within ringTimeout.
func (c *Call) giveUpUnanswered() {
	t := time.NewTimer(ringTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		if st := State(c.info().State); st != StateConnected && st != StateConnecting {
			c.end("no answer", callproto.ControlCancel)
		}
	}
}

// awaitConfirm marks an answered incoming call unverified, prominently, if
// the caller's SAS confirmation has not come confirmWait after the answer:
// the callee then has no SAS to compare, which is exactly what a man in the
// middle who withholds the confirmation would cause. The call goes on (the
// media is encrypted and the caller's user still sees a SAS to read out);
// a confirmation that comes later clears the mark.
func (c *Call) awaitConfirm() {
	t := time.NewTimer(confirmWait)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	c.mu.Lock()
	if c.sas != "" || c.ended {
		c.mu.Unlock()
		return
	}
	c.unverified = true
	c.mu.Unlock()
	c.svc.Log.Warn("call unverified: the caller never confirmed the SAS", "call", CallIDString(c.id), "peer", c.peer)
	c.event(apitype.EventCallUnverified, fmt.Sprintf("no SAS from the caller within %v: this call cannot be verified; someone may be in the middle", confirmWait))
}
