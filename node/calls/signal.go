package calls

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/errtext"
	"github.com/parleyhq/parley/internal/wire"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// offerReadTimeout bounds the wait for the first message of a call stream.
const offerReadTimeout = 10 * time.Second

func peerOf(d pcrypto.DeviceID) peer.ID { return peer.ID(d) }

// leg is one device's side of a call: its signalling stream and, once
// answered, its ICE leg and SRTP media.
type leg struct {
	c      *Call
	device pcrypto.DeviceID
	// peerPub is the key the peer device signs control messages with.
	peerPub ed25519.PublicKey

	wmu sync.Mutex // serialises writes to s
	s   network.Stream

	tl    *calltransport.Leg
	media *calltransport.Media
	keys  *callproto.Keys
	// sasCommit is the caller's commitment to its SAS nonce (callee side).
	sasCommit [32]byte
	// dead is set (under c.mu) when the leg has dropped out of the call.
	dead bool
	// up is closed once the leg's call.connected event was emitted: the
	// first media event waits for it, so events come in their logical
	// order.
	up chan struct{}
	// sigLost is set when the signalling stream closed while media went
	// on: control messages then go on streams of their own.
	sigLost atomic.Bool
	// rs is the leg's ICE restart state (restart.go).
	rs restartState

	// earlyMu guards early and iceOn (callee): the caller gathers and
	// trickles its candidates from the moment it sent the offer, so they
	// can come while this side still rings; they wait in early until the
	// answer started ICE (bounded like the transport's own remote
	// candidates), and the read loop goes on to see a cancel meanwhile.
	earlyMu sync.Mutex
	early   []string
	iceOn   bool

	closeOnce sync.Once
}

// holdEarly keeps a candidate that came before this side's ICE started and
// reports whether it did; false means ICE runs and it goes in at once.
func (l *leg) holdEarly(cand string) bool {
	l.earlyMu.Lock()
	defer l.earlyMu.Unlock()
	if l.iceOn {
		return false
	}
	if len(l.early) < calltransport.MaxRemoteCandidates {
		l.early = append(l.early, cand)
	} else {
		l.c.svc.sigDropped.Add(1)
	}
	return true
}

// releaseEarly marks ICE started and adds the candidates held until then.
func (l *leg) releaseEarly() {
	l.earlyMu.Lock()
	l.iceOn = true
	early := l.early
	l.early = nil
	l.earlyMu.Unlock()
	for _, cand := range early {
		if err := l.tl.AddRemoteCandidate(cand); err != nil {
			l.c.svc.Log.Debug("remote candidate refused", "err", err)
		}
	}
}

// writeFrame sends one length-prefixed message.
func (l *leg) writeFrame(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.s == nil {
		return errors.New("no stream")
	}
	_ = l.s.SetWriteDeadline(time.Now().Add(service.IOTimeout))
	return wire.WriteFrame(l.s, b, callproto.MaxMessage)
}

// readFrame reads one length-prefixed message of at most MaxMessage bytes.
func readFrame(r *bufio.Reader) ([]byte, error) { return wire.ReadFrame(r, callproto.MaxMessage) }

// sendControl signs and sends a control message; errors only matter to the
// stream, which is torn down anyway.
func (l *leg) sendControl(m *callproto.Control) {
	m.CallID = l.c.id
	m.Time = l.c.svc.Now()
	b, err := callproto.SignControl(l.c.svc.ID.DeviceKey, m)
	if err != nil {
		l.c.svc.Log.Debug("signing control", "type", m.Type, "err", err)
		return
	}
	if !l.sigLost.Load() && l.writeFrame(b) == nil {
		return
	}
	if l.device != "" && l.c.mediaUpAny(l) {
		l.queueControl(b)
	}
}

// relayedSignalling reports whether the leg's signalling stream runs over a
// circuit relay (a limited connection, which the relay ends after its
// circuit duration). A stream on a direct connection that closes means the
// peer went away, and the call ends at once.
func (l *leg) relayedSignalling() bool {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.s != nil && l.s.Conn().Stat().Limited
}

// setTransport records the leg's ICE leg (read by info and close under
// c.mu). If the call already ended, the new leg is closed at once.
func (l *leg) setTransport(tl *calltransport.Leg) {
	l.c.mu.Lock()
	l.tl = tl
	ended := l.c.ended
	l.c.mu.Unlock()
	if ended {
		tl.Close()
	}
}

// close tears the leg down: media, ICE, keys, stream.
func (l *leg) close() {
	l.closeOnce.Do(func() {
		l.c.mu.Lock()
		tl, keys := l.tl, l.keys
		l.c.mu.Unlock()
		if tl != nil {
			tl.Close()
		}
		if keys != nil {
			keys.Wipe()
		}
		l.wmu.Lock()
		if l.s != nil {
			l.s.Close()
		}
		l.wmu.Unlock()
	})
}

// ---- caller ----

// ring offers the call to one device and follows it until the call ends or
// this device drops out of it.
func (l *leg) ring() {
	c, svc := l.c, l.c.svc
	err := l.ringErr()
	if err == nil || c.ctx.Err() != nil {
		return
	}
	if c.mediaUp(l) && (l.sigLost.Load() || l.relayedSignalling()) {
		// The signalling stream may ride a circuit relay whose connection
		// expires long before a call ends; media has its own ICE path, so
		// the call goes on. Later control messages (hang-up) go on streams
		// of their own (CallControlProtocol).
		l.sigLost.Store(true)
		svc.Log.Info("signalling stream closed; the call continues on its media path", "call", CallIDString(c.id), "err", err)
		return
	}
	l.close()
	c.mu.Lock()
	l.dead = true
	won := c.winner == l
	alive := 0
	for _, o := range c.legs {
		if !o.dead {
			alive++
		}
	}
	c.mu.Unlock()
	svc.Log.Info("call leg ended", "call", CallIDString(c.id), "device", l.device, "err", err)
	if won || alive == 0 {
		c.end(err.Error(), callproto.ControlHangup)
	}
}

// ringErr runs the caller side of one leg; it returns why the leg ended.
func (l *leg) ringErr() error {
	c, svc := l.c, l.c.svc
	pub, err := l.device.PublicKey()
	if err != nil {
		return err
	}
	l.peerPub = pub
	ctx, cancel := context.WithTimeout(c.ctx, offerReadTimeout)
	s, err := svc.openCallStream(ctx, l.device)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach device: %w", err)
	}
	c.mark(apitype.StepStreamOpen)
	l.wmu.Lock()
	l.s = s
	l.wmu.Unlock()

	ck, err := callproto.NewCallerKeys()
	if err != nil {
		return err
	}
	defer ck.Wipe()
	tl, err := calltransport.NewLeg(svc.iceConfig(c.ctx, true))
	if err != nil {
		return err
	}
	l.setTransport(tl)
	ufrag, pwd := tl.LocalCredentials()
	offer := &callproto.Offer{
		CallID: c.id, Time: svc.Now(), From: svc.ID.AccountCert.ID, To: c.peer,
		AccountCert: svc.ID.AccountCert.Raw(), DeviceCert: svc.ID.DeviceCert.Raw(),
		ICEUfrag: ufrag, ICEPwd: pwd, Media: c.mediaDescs(), Conference: c.conf,
	}
	ck.FillOffer(offer)
	signedOffer, err := callproto.SignOffer(svc.ID.DeviceKey, offer)
	if err != nil {
		return err
	}
	if err := l.writeFrame(signedOffer); err != nil {
		return err
	}
	c.mark(apitype.StepOfferSent)
	tl.OnCandidate(func(cand string) { l.trickle(cand) })
	// Gather now, while the offer travels and the callee rings: host and
	// server-reflexive candidates and the TURN allocation are ready (and
	// trickled) by the time the answer comes, instead of starting then.
	if err := tl.Gather(); err != nil {
		return err
	}

	r := bufio.NewReader(s)
	for {
		b, err := readFrame(r)
		if err != nil {
			if c.ctx.Err() != nil {
				return nil
			}
			svc.Log.Debug("signalling stream closed", "call", CallIDString(c.id), "device", l.device, "err", err)
			return errors.New("the other side went away (its signalling stream closed)")
		}
		env, err := pcrypto.ParseEnvelope(b, callproto.MaxMessage)
		if err != nil {
			svc.sigDropped.Add(1)
			return fmt.Errorf("malformed message from the callee: %w", err)
		}
		if env.Context == callproto.AnswerContext {
			if err := l.onAnswer(ck, signedOffer, b); err != nil {
				return err
			}
			continue
		}
		m, err := callproto.ParseControl(b, l.peerPub, svc.Now())
		if err != nil || m.CallID != c.id {
			svc.sigDropped.Add(1)
			return fmt.Errorf("bad control message from the callee: %v", err)
		}
		if done, err := l.onControl(m); done {
			return err
		}
	}
}

// onAnswer handles the callee's answer: the first one wins the call.
func (l *leg) onAnswer(ck *callproto.CallerKeys, signedOffer, signedAnswer []byte) error {
	c, svc := l.c, l.c.svc
	var crl *pcrypto.CRL
	if rec := svc.pres.CachedAccount(c.peer, svc.Now(), time.Hour); rec != nil {
		crl = rec.CRL
	}
	ans, dc, err := callproto.ParseAnswer(signedAnswer, signedOffer, c.peer, svc.Now(), callproto.WithCRL(crl))
	if err != nil {
		l.sendControl(&callproto.Control{Type: callproto.ControlError, Code: callproto.CodeOf(err), Reason: err.Error()})
		return fmt.Errorf("answer refused: %w", err)
	}
	if dc.Device != l.device {
		return errors.New("answer signed by another device than the one rung")
	}
	c.mu.Lock()
	if c.winner != nil || c.ended {
		c.mu.Unlock()
		l.sendControl(&callproto.Control{Type: callproto.ControlAnsweredElsewhere})
		return errors.New("answered elsewhere")
	}
	c.winner = l
	c.peerDevice = l.device
	others := make([]*leg, 0, len(c.legs))
	for _, o := range c.legs {
		if o != l {
			others = append(others, o)
		}
	}
	c.legs = []*leg{l}
	c.mu.Unlock()
	for _, o := range others {
		o.sendControl(&callproto.Control{Type: callproto.ControlAnsweredElsewhere, Reason: "answered on another device"})
		o.close()
	}

	keys, err := ck.Finish(ans.X25519, ans.MLKEMCiphertext, callproto.NewTranscript(signedOffer, signedAnswer))
	if err != nil {
		return fmt.Errorf("key agreement: %w", err)
	}
	c.mu.Lock()
	l.keys = keys
	c.mu.Unlock()
	if !svc.o.TestOnlyWithholdConfirm {
		l.sendControl(&callproto.Control{Type: callproto.ControlConfirm, SASNonce: keys.SASNonce})
	}
	c.mu.Lock()
	c.sas = keys.SAS
	c.mu.Unlock()
	c.mark(apitype.StepAnswered)
	c.step(InAnswered, apitype.EventCallAnswered, "answered by "+l.device.String())
	c.event(apitype.EventCallSAS, keys.SAS)
	return l.startMedia(ans.ICEUfrag, ans.ICEPwd, true)
}

// onControl handles a control message on either side; done reports that
// the leg is over, with err saying why (nil for an orderly end).
func (l *leg) onControl(m *callproto.Control) (done bool, err error) {
	c := l.c
	switch m.Type {
	case callproto.ControlRinging:
		if c.outgoing {
			c.mark(apitype.StepRinging)
			c.step(InRinging, apitype.EventCallRinging, "ringing on "+l.device.String())
		}
	case callproto.ControlCandidate:
		if l.tl != nil {
			if err := l.tl.AddRemoteCandidate(m.Candidate); err != nil {
				c.svc.Log.Debug("remote candidate refused", "err", err)
			}
		}
	case callproto.ControlEndOfCandidates:
	case callproto.ControlICERestart, callproto.ControlICERestartReply:
		l.onRestart(m)
	case callproto.ControlConfirm:
		if l.keys == nil || c.outgoing {
			return true, errors.New("unexpected confirm")
		}
		if err := l.keys.ConfirmSAS(l.sasCommit, m.SASNonce); err != nil {
			return true, fmt.Errorf("SAS commitment does not match: %w", err)
		}
		c.mu.Lock()
		c.sas, c.unverified = l.keys.SAS, false
		c.mu.Unlock()
		c.event(apitype.EventCallSAS, l.keys.SAS)
	case callproto.ControlDecline:
		return true, errors.New("declined" + reasonSuffix("declined", m.Reason))
	case callproto.ControlBusy:
		return true, errors.New("busy" + reasonSuffix("busy", m.Reason))
	case callproto.ControlError:
		// m.Err() carries the reason already.
		// One message for people: the peer's words without the wrapping
		// ("peer reported an error", Go names, a clause said twice).
		return true, fmt.Errorf("refused by the callee: %s", errtext.Clean(strings.TrimPrefix(m.Err().Error(), callproto.ErrPeer.Error()+": ")))
	case callproto.ControlCancel, callproto.ControlAnsweredElsewhere:
		if !c.outgoing {
			c.end(describe(m), "")
			return true, nil
		}
		return true, errors.New(describe(m))
	case callproto.ControlHangup:
		c.end("hung up by the other side", "")
		return true, nil
	}
	return false, nil
}

func describe(m *callproto.Control) string {
	switch head := string(m.Type); {
	case m.Type == callproto.ControlAnsweredElsewhere:
		return "answered elsewhere"
	case strings.HasPrefix(m.Reason, head) && !strings.HasPrefix(m.Reason, head+": ") && m.Reason != head:
		return m.Reason // "cancelled" says more than "cancel: cancelled"
	default:
		return head + reasonSuffix(head, m.Reason)
	}
}

// reasonSuffix is ": " and the peer's reason for ending, or "" when there
// is none or it only repeats head ("declined: declined"); a reason that
// starts "head: " loses that prefix.
func reasonSuffix(head, r string) string {
	switch {
	case r == "" || r == head:
		return ""
	case strings.HasPrefix(r, head+": "):
		return ": " + strings.TrimPrefix(r, head+": ")
	}
	return ": " + r
}

// trickle sends a local ICE candidate ("" = gathering done).
func (l *leg) trickle(cand string) {
	l.noteLocalCandidate(cand)
	if cand == "" {
		l.sendControl(&callproto.Control{Type: callproto.ControlEndOfCandidates})
		return
	}
	l.sendControl(&callproto.Control{Type: callproto.ControlCandidate, Candidate: cand})
}

// ---- callee ----

// handleCallStream serves an incoming call stream: the offer, ringing, the
// user's decision, the answer, then control messages until the end.
func (svc *Service) handleCallStream(s network.Stream) {
	_ = s.SetReadDeadline(time.Now().Add(offerReadTimeout))
	r := bufio.NewReader(s)
	signedOffer, err := readFrame(r)
	if err != nil {
		svc.sigDropped.Add(1)
		s.Reset()
		return
	}
	offerAt := time.Now()
	_ = s.SetReadDeadline(time.Time{})
	l := &leg{s: s}
	offer, dc, err := svc.checkOffer(s.Conn().RemotePeer(), signedOffer)
	if err != nil {
		svc.sigDropped.Add(1)
		svc.Log.Info("call refused", "from", s.Conn().RemotePeer(), "err", err)
		l.c = &Call{svc: svc, id: offerID(signedOffer)}
		code := callproto.CodeOf(err)
		l.sendControl(&callproto.Control{Type: callproto.ControlError, Code: code, Reason: err.Error()})
		s.Close()
		return
	}
	l.device, l.peerPub, l.sasCommit = dc.Device, dc.Cert.PublicKey.(ed25519.PublicKey), offer.SASCommit
	if offer.Conference == (callproto.CallID{}) && svc.busy() {
		l.c = &Call{svc: svc, id: offer.CallID}
		l.sendControl(&callproto.Control{Type: callproto.ControlBusy, Reason: "in another call"})
		s.Close()
		return
	}
	checked := time.Now()
	c := svc.newCall(offer.CallID, false, offer.From, offer.Conference)
	c.mu.Lock()
	c.started = offerAt // setup counts from the offer's arrival
	c.mu.Unlock()
	c.markAt(apitype.StepOfferReceived, offerAt)
	c.markAt(apitype.StepOfferChecked, checked)
	l.c = c
	c.mu.Lock()
	c.legs = []*leg{l}
	c.peerDevice = dc.Device
	c.mu.Unlock()
	l.sendControl(&callproto.Control{Type: callproto.ControlRinging})
	c.event(apitype.EventCallIncoming, "from device "+dc.Device.String())
	svc.Log.Info("incoming call", "call", CallIDString(c.id), "from", offer.From)

	// Control messages from the caller may arrive while we ring (cancel,
	// answered elsewhere) and after the answer (confirm, candidates).
	answered := make(chan struct{})
	go l.calleeReadLoop(r, answered)

	if c.conf != (callproto.CallID{}) {
		// A member of a conference we joined: its pairwise call is part
		// of it and answered at once with the conference's media.
		kickDecision(c, callDecision{answer: true, opts: svc.conf().AnswerOptions(c.conf, dc.Device)})
		svc.conf().Attach(c, dc.Device)
	} else if auto, _, _ := svc.Store.Setting(string(service.SettingAutoAnswer)); auto == "contacts" {
		rec, _, _ := svc.Store.Setting(string(service.SettingAutoRecord))
		kickDecision(c, callDecision{answer: true, opts: apitype.CallAction{Record: rec}})
	}
	var d callDecision
	select {
	case d = <-c.decide:
	case <-c.done:
		return
	case <-time.After(ringTimeout):
		c.end("not answered", callproto.ControlDecline)
		return
	}
	if !d.answer {
		c.end("declined", callproto.ControlDecline)
		return
	}
	if err := l.answer(offer, signedOffer, d.opts); err != nil {
		c.end("answer failed: "+err.Error(), callproto.ControlHangup)
		return
	}
	l.releaseEarly()
	close(answered)
}

func kickDecision(c *Call, d callDecision) {
	select {
	case c.decide <- d:
	default:
	}
}

// offerID extracts the call ID of an offer that failed verification, for
// the error reply; zero when unreadable.
func offerID(b []byte) callproto.CallID {
	o, _, err := callproto.ParseOffer(b, time.Now())
	if err == nil {
		return o.CallID
	}
	return callproto.CallID{}
}

// checkOffer verifies an offer: signature and chain (with the caller's CRL
// when known), addressed to us, sent by the device that signed it, fresh,
// not a replay, and from a contact unless we allow others.
func (svc *Service) checkOffer(from peer.ID, signed []byte) (*callproto.Offer, *pcrypto.DeviceCert, error) {
	now := svc.Now()
	crlOf := func(a pcrypto.AccountID) *pcrypto.CRL {
		if rec := svc.pres.CachedAccount(a, now, time.Hour); rec != nil {
			return rec.CRL
		}
		return nil
	}
	o, dc, err := callproto.ParseOffer(signed, now, callproto.WithRecipient(svc.ID.AccountCert.ID), callproto.WithCRLLookup(crlOf))
	if err != nil {
		return nil, nil, err
	}
	if peerOf(dc.Device) != from {
		return nil, nil, fmt.Errorf("%w: offer relayed by another peer than its signer", callproto.ErrWrongSigner)
	}
	// Who may call is decided before anything costs a lookup or a cache
	// entry: a stranger's offer is refused here.
	if err := svc.checkCaller(o, dc); err != nil {
		return nil, nil, err
	}
	if err := svc.checkDeviceListed(o.From, dc); err != nil {
		return nil, nil, err
	}
	if err := svc.replay.Check(o.CallID, now); err != nil {
		return nil, nil, err
	}
	return o, dc, nil
}

// checkCaller applies the contact rules to an offer: blocked accounts are
// refused; a conference offer must come from a member of a conference we
// are in; otherwise the caller must be an accepted contact unless
// non-contacts are allowed.
func (svc *Service) checkCaller(o *callproto.Offer, dc *pcrypto.DeviceCert) error {
	ct, err := svc.Store.Contact(o.From)
	switch {
	case err == nil && ct.State == store.Blocked:
		return fmt.Errorf("%w: blocked", callproto.ErrNotContact)
	case o.Conference != (callproto.CallID{}):
		// Conference members are introduced by the roster, not the
		// contact list: the device must be a member of a conference we
		// are in.
		if !svc.conf().IsMember(o.Conference, dc.Device) {
			return fmt.Errorf("%w: not a member of a conference this device is in", callproto.ErrNotContact)
		}
	case err == nil && ct.State == store.Accepted:
	case errors.Is(err, store.ErrNotFound) || err == nil:
		if v, _, _ := svc.Store.Setting(string(service.SettingAllowNonContacts)); v != "true" {
			return fmt.Errorf("%w: this account only takes calls from its contacts", callproto.ErrNotContact)
		}
	default:
		return err
	}
	return nil
}

// deviceCheckTimeout bounds the account lookup made for an incoming call.
const deviceCheckTimeout = 2 * time.Second

// checkDeviceListed requires the calling device to be in its account's
// published certificate set (and not revoked by the CRL published with it).
// A device the account certified but never published, or has since
// dropped, cannot call. When the account record cannot be fetched (the DHT
// is unreachable), the certificate chain decides together with the
// revocations pinned for the account (a contact's CRL survives restarts).
// A record older than the pin is refused, not trusted.
func (svc *Service) checkDeviceListed(acct pcrypto.AccountID, dc *pcrypto.DeviceCert) error {
	ctx, cancel := context.WithTimeout(svc.runCtx(), deviceCheckTimeout)
	defer cancel()
	rec, err := svc.pres.ResolveAccount(ctx, acct)
	if errors.Is(err, store.ErrRollback) {
		return fmt.Errorf("%w: %w", callproto.ErrUntrustedDevice, err)
	}
	if err != nil {
		if svc.pres.PinRevokes(acct, dc.Serial()) {
			return fmt.Errorf("%w: %w (pinned revocation list)", callproto.ErrUntrustedDevice, pcrypto.ErrRevoked)
		}
		svc.Log.Debug("caller's account record unavailable; trusting the certificate chain and the pinned revocations", "account", acct, "err", err)
		return nil
	}
	if rec.CRL != nil && rec.CRL.IsRevoked(dc.Serial()) {
		return fmt.Errorf("%w: %w", callproto.ErrUntrustedDevice, pcrypto.ErrRevoked)
	}
	for _, d := range rec.Devices {
		if d.Device == dc.Device {
			return nil
		}
	}
	return fmt.Errorf("%w: device %s is not in the account's published device set", callproto.ErrUntrustedDevice, dc.Device.Short())
}

// answer sends the answer, starts ICE and media.
func (l *leg) answer(offer *callproto.Offer, signedOffer []byte, opts apitype.CallAction) error {
	c, svc := l.c, l.c.svc
	sources, err := openSources(opts.Audio, opts.Video)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sources = sources
	c.opts = apitype.CallRequest{Audio: opts.Audio, Video: opts.Video, Record: opts.Record}
	c.mu.Unlock()
	x, ct, secrets, err := callproto.CalleeAgree(offer.X25519, offer.MLKEMEncapKey)
	if err != nil {
		return err
	}
	defer secrets.Wipe()
	tl, err := svc.calleeLeg(c.ctx)
	if err != nil {
		return err
	}
	l.setTransport(tl)
	ufrag, pwd := tl.LocalCredentials()
	ans := &callproto.Answer{
		CallID: c.id, Time: svc.Now(), OfferHash: callproto.OfferHash(signedOffer),
		AccountCert: svc.ID.AccountCert.Raw(), DeviceCert: svc.ID.DeviceCert.Raw(),
		X25519: x, MLKEMCiphertext: ct, ICEUfrag: ufrag, ICEPwd: pwd, Media: c.mediaDescs(),
	}
	signedAnswer, err := callproto.SignAnswer(svc.ID.DeviceKey, ans)
	if err != nil {
		return err
	}
	keys, err := secrets.Finish(callproto.NewTranscript(signedOffer, signedAnswer))
	if err != nil {
		return err
	}
	c.mu.Lock()
	l.keys = keys
	c.winner = l
	c.mu.Unlock()
	if err := l.writeFrame(signedAnswer); err != nil {
		return err
	}
	c.mark(apitype.StepAnswerSent)
	// After the answer: a spare leg hands over the candidates it gathered
	// at once, and the caller takes candidates only once it has the answer.
	tl.OnCandidate(func(cand string) { l.trickle(cand) })
	c.step(InAnswered, apitype.EventCallAnswered, "answered here")
	go c.awaitConfirm()
	return l.startMedia(offer.ICEUfrag, offer.ICEPwd, false)
}

// calleeReadLoop handles the caller's control messages on an incoming call.
func (l *leg) calleeReadLoop(r *bufio.Reader, answered <-chan struct{}) {
	c, svc := l.c, l.c.svc
	for {
		b, err := readFrame(r)
		if err != nil {
			switch {
			case c.ctx.Err() != nil:
			case c.mediaUp(l) && (l.sigLost.Load() || l.relayedSignalling()):
				// As on the caller's side: the call goes on on its media
				// path (see ring).
				l.sigLost.Store(true)
				svc.Log.Info("signalling stream closed; the call continues on its media path", "call", CallIDString(c.id), "err", err)
			default:
				c.end("the other side went away: signalling stream closed", "")
			}
			return
		}
		m, err := callproto.ParseControl(b, l.peerPub, svc.Now())
		if err != nil || m.CallID != c.id {
			svc.sigDropped.Add(1)
			c.end(fmt.Sprintf("bad control message from the caller: %v", err), callproto.ControlHangup)
			return
		}
		// Candidates before the answer wait in early; the confirm and ICE
		// restarts need the answer's keys and leg (the caller sends them
		// only after the answer).
		if m.Type == callproto.ControlCandidate && l.holdEarly(m.Candidate) {
			continue
		}
		if m.Type == callproto.ControlConfirm || m.Type.IsICERestart() {
			select {
			case <-answered:
			case <-c.done:
				return
			}
		}
		if done, err := l.onControl(m); done {
			if err != nil {
				c.end(err.Error(), callproto.ControlHangup)
			}
			return
		}
	}
}

// CallControlProtocol carries one signed control message of an ongoing call
// per stream, for when the call's signalling stream is gone (it rode a
// circuit relay connection that expired) while its media goes on.
const CallControlProtocol = "/parley/call-control/1.0.0"

// sendControlStream sends a signed control message on a stream of its own.
// The receiver closes the stream once it has handled the message, and
// sendControlStream waits for that: it keeps a restart and the candidates
// that follow it in order, each on a stream of its own. A connection on
// which that close does not come within controlAckTimeout is dead (it ran
// from or to an address that is gone): it is closed and the message goes
// once more, on a new connection.
func (svc *Service) sendControlStream(d pcrypto.DeviceID, msg []byte) {
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(svc.runCtx(), service.IOTimeout)
		s, err := svc.Host.NewStream(network.WithAllowLimitedConn(ctx, "call-control"), peerOf(d), CallControlProtocol)
		cancel()
		if err != nil {
			svc.Log.Debug("control stream", "device", d, "err", err)
			if attempt == 2 || svc.runCtx().Err() != nil {
				return
			}
			// The peer may be renewing its relay slot (see restart.go);
			// try once more shortly, past the dial backoff.
			select {
			case <-svc.runCtx().Done():
				return
			case <-time.After(controlRetryWait):
			}
			if b, ok := svc.Host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
				b.Backoff().Clear(peerOf(d))
			}
			continue
		}
		_ = s.SetDeadline(time.Now().Add(controlAckTimeout))
		if wire.WriteFrame(s, msg, callproto.MaxMessage) == nil && s.CloseWrite() == nil {
			_, err = s.Read(make([]byte, 1))
		}
		s.Close()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		svc.Log.Info("no answer on a connection; closing it", "device", d)
		_ = s.Conn().Close()
	}
}

// controlRetryWait is the pause before a control stream that could not be
// opened is tried again.
const controlRetryWait = 500 * time.Millisecond

// handleCallControlStream applies one control message to the call it
// names, if it comes from the device that call is connected to.
func (svc *Service) handleCallControlStream(s network.Stream) {
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(service.IOTimeout))
	b, err := readFrame(bufio.NewReader(s))
	if err != nil {
		svc.sigDropped.Add(1)
		return
	}
	from := s.Conn().RemotePeer()
	pub, err := pcrypto.DeviceID(from).PublicKey()
	if err != nil {
		svc.sigDropped.Add(1)
		return
	}
	m, err := callproto.ParseControl(b, pub, svc.Now())
	if err != nil {
		svc.sigDropped.Add(1)
		return
	}
	svc.callsMu.Lock()
	c := svc.calls[m.CallID]
	svc.callsMu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	l := c.winner
	c.mu.Unlock()
	if l == nil || peerOf(l.device) != from {
		svc.sigDropped.Add(1)
		return
	}
	switch m.Type {
	case callproto.ControlHangup, callproto.ControlCancel:
		c.end("hung up by the other side", "")
	case callproto.ControlICERestart, callproto.ControlICERestartReply, callproto.ControlCandidate, callproto.ControlEndOfCandidates:
		// The peer lost its signalling stream (its network changed) and
		// restarts ICE over control streams.
		l.adoptControlConn(s.Conn(), m.Type == callproto.ControlICERestart)
		_, _ = l.onControl(m)
	}
}
