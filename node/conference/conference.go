package conference

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/calls"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ConferenceProtocol carries conference membership messages (invite, join,
// leave) between devices: one signed message and one reply per stream. The
// media of a conference does not use it: every pair of participants has its
// own call (its own ICE session and pairwise-agreed SRTP keys), tagged with
// the conference ID. Nobody mixes or re-encrypts anyone's media.
const ConferenceProtocol = "/parley/conf/1.0.0"

// confContext is the signing context of conference messages.
const confContext = "parley/conf/v1"

// DefaultConferenceMax is the default participant limit. Every participant
// sends its media to each of the N−1 others, so its upload grows with N;
// eight audio+video participants is what a home uplink carries.
const DefaultConferenceMax = 8

// maxConferenceLimit bounds --max: a roster message must stay small.
const maxConferenceLimit = 32

// Kinds of conference message.
const (
	confInvite  = "invite"
	confJoin    = "join"
	confLeave   = "leave"
	confMembers = "members"
)

// Errors of the conference API.
var (
	// ErrNoSuchConference is returned for an unknown conference ID.
	ErrNoSuchConference = errors.New("no such conference")
	// ErrConferenceFull is returned when a join would exceed the limit.
	ErrConferenceFull = errors.New("conference is full")
)

// confMember is one participant, introduced with its certificate chain.
// The IDs are in their text forms on the wire, parsed when decoded.
type confMember struct {
	Account     pcrypto.AccountID `json:"account"`
	Device      pcrypto.DeviceID  `json:"device"`
	Name        string            `json:"name,omitempty"`
	AccountCert []byte            `json:"account_cert"`
	DeviceCert  []byte            `json:"device_cert"`
}

// confMsg is the payload of a conference message's signed envelope.
type confMsg struct {
	V       int          `json:"v"`
	Kind    string       `json:"kind"`
	Conf    string       `json:"conf"`
	Max     int          `json:"max"`
	From    confMember   `json:"from"`
	Members []confMember `json:"members,omitempty"`
	Time    time.Time    `json:"time"`
	// To is the invited account (invite only).
	To pcrypto.AccountID `json:"to,omitzero"`
	// Invitation is, in a join, the signed invite the joiner received: a
	// member that does not know the joiner takes it on the word of the
	// member who invited it.
	Invitation []byte `json:"invitation,omitempty"`
}

// conference is a group call this device was invited to or is part of.
type conference struct {
	id  callproto.CallID
	max int

	mu      sync.Mutex // guards the following fields
	joined  bool
	inviter pcrypto.AccountID
	// invited is the roster of the invitations received before joining
	// (verified); joining takes it as "listed".
	invited map[pcrypto.DeviceID]confMember
	// members is the roster once joined (verified), this device included;
	// moved only by Service.move, through the membership table.
	members map[pcrypto.DeviceID]confMember
	calls   map[pcrypto.DeviceID]*calls.Call // pairwise calls by peer device
	dialing map[pcrypto.DeviceID]bool        // our call to it is being placed
	// awaiting holds the members we introduced ourselves to and whose
	// roster (members message) we take, once each: rosters are only
	// taken as answers to our own joins, so a member cannot make us
	// contact devices at will.
	awaiting map[pcrypto.DeviceID]bool
	// refused holds the devices that refused or could not take our join;
	// they are not introduced to again (a roster cannot make us hammer a
	// device outside the conference).
	refused map[pcrypto.DeviceID]bool
	opts    apitype.CallRequest // media of the pairwise calls
	// invitedSeq orders the invitations by arrival (zero for a conference
	// started here); set once, before cf is shared.
	invitedSeq uint64
	// invitation is the signed invite this device received (nil for a
	// conference started here); joins carry it.
	invitation []byte
}

// self describes this device as a conference member.
func (svc *Service) selfMember() confMember {
	return confMember{
		Account: svc.ID.AccountCert.ID, Device: svc.ID.DeviceCert.Device, Name: svc.ID.DeviceCert.Name,
		AccountCert: svc.ID.AccountCert.Raw(), DeviceCert: svc.ID.DeviceCert.Raw(),
	}
}

// verifyMember checks a member's chain and returns its device ID.
func (svc *Service) verifyMember(m confMember) (pcrypto.DeviceID, error) {
	acct := m.Account
	ac, err := pcrypto.ParseAccountCert(m.AccountCert)
	if err != nil {
		return "", err
	}
	dc, err := pcrypto.ParseDeviceCert(m.DeviceCert)
	if err != nil {
		return "", err
	}
	var crl *pcrypto.CRL
	if rec := svc.pres.CachedAccount(acct, svc.Now(), time.Hour); rec != nil {
		crl = rec.CRL
	}
	if err := pcrypto.VerifyDevice(acct, ac, dc, crl, svc.Now()); err != nil {
		return "", err
	}
	if svc.pres.PinRevokes(acct, dc.Serial()) {
		return "", fmt.Errorf("device %s: %w (pinned revocation list)", dc.Device.Short(), pcrypto.ErrRevoked)
	}
	if m.Device != dc.Device {
		return "", errors.New("member device ID does not match its certificate")
	}
	return dc.Device, nil
}

// blocked reports whether account is blocked here.
func (svc *Service) blocked(account pcrypto.AccountID) bool {
	c, err := svc.Store.Contact(account)
	return err == nil && c.State == store.Blocked
}

func (svc *Service) conference(id string) (*conference, error) {
	cid, err := calls.ParseCallID(id)
	if err != nil {
		if len(id) > 40 {
			id = id[:40] + "…"
		}
		return nil, fmt.Errorf("%w: %q is not a conference ID (conference IDs are %d hex digits: see parley conference list)", service.ErrInvalidInput, id, 2*len(cid))
	}
	svc.confMu.Lock()
	defer svc.confMu.Unlock()
	cf := svc.confs[cid]
	if cf == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchConference, id)
	}
	return cf, nil
}

// StartConference creates a conference with this device as its first
// participant; max ≤ 0 means DefaultConferenceMax.
func (svc *Service) StartConference(max int, opts apitype.CallRequest) (*apitype.Conference, error) {
	if max <= 0 {
		max = DefaultConferenceMax
	}
	if max < 2 || max > maxConferenceLimit {
		return nil, fmt.Errorf("%w: --max %d (2..%d)", service.ErrInvalidInput, max, maxConferenceLimit)
	}
	if err := calls.CheckSources(opts.Audio, opts.Video); err != nil {
		return nil, err
	}
	cf := newConference(callproto.CallID{}, max, pcrypto.AccountID{})
	cf.joined, cf.opts = true, opts
	if _, err := rand.Read(cf.id[:]); err != nil {
		return nil, err
	}
	cf.members[svc.ID.DeviceCert.Device] = svc.selfMember()
	svc.confMu.Lock()
	if svc.confs == nil {
		svc.confs = map[callproto.CallID]*conference{}
	}
	svc.confs[cf.id] = cf
	svc.confMu.Unlock()
	info := svc.confInfo(cf)
	return &info, nil
}

// InviteToConference sends the roster to every online device of a contact.
func (svc *Service) InviteToConference(ctx context.Context, confID string, acct pcrypto.AccountID) error {
	cf, err := svc.conference(confID)
	if err != nil {
		return err
	}
	if err := svc.contacts.CheckOther(acct); err != nil {
		return err
	}
	if c, err := svc.Store.Contact(acct); err != nil || c.State != store.Accepted {
		return fmt.Errorf("%w: %s is not an accepted contact", service.ErrConflict, acct)
	}
	cf.mu.Lock()
	if !cf.joined {
		cf.mu.Unlock()
		return fmt.Errorf("%w: join the conference before inviting others", service.ErrConflict)
	}
	msg := confMsg{Kind: confInvite, Conf: calls.CallIDString(cf.id), Max: cf.max, Members: slices.Collect(mapValues(cf.members)), To: acct}
	cf.mu.Unlock()
	_, results, err := svc.pres.ReachAccount(ctx, acct)
	if err != nil {
		return fmt.Errorf("%w: %w", calls.ErrUnreachable, err)
	}
	sent := 0
	for _, r := range results {
		if !r.Connected || r.Cert.Device == svc.ID.DeviceCert.Device {
			continue
		}
		if err := svc.sendConf(ctx, r.Cert.Device, msg); err != nil {
			svc.Log.Info("conference invite not delivered", "device", r.Cert.Device, "err", err)
			continue
		}
		sent++
	}
	if sent == 0 {
		return fmt.Errorf("%w: %s", calls.ErrUnreachable, acct)
	}
	return nil
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// JoinConference joins a conference we were invited to: it introduces
// this device to every participant of the invitations' rosters (each
// answers with its own roster, so participants invited later or elsewhere
// are found too), and of each pair the device with the smaller ID calls.
func (svc *Service) JoinConference(ctx context.Context, confID string, opts apitype.CallRequest) (*apitype.Conference, error) {
	cf, err := svc.conference(confID)
	if err != nil {
		return nil, err
	}
	if err := calls.CheckSources(opts.Audio, opts.Video); err != nil {
		return nil, err
	}
	cf.mu.Lock()
	if cf.joined {
		cf.mu.Unlock()
		return nil, fmt.Errorf("%w: already in conference %s", service.ErrConflict, confID)
	}
	if len(cf.invited)+1 > cf.max {
		cf.mu.Unlock()
		return nil, fmt.Errorf("%w: %d of %d", ErrConferenceFull, len(cf.invited), cf.max)
	}
	cf.joined, cf.opts = true, opts
	cf.members[svc.ID.DeviceCert.Device] = svc.selfMember()
	invited := cf.invited
	cf.invited = nil
	cf.mu.Unlock()
	var wg sync.WaitGroup
	for d, m := range invited {
		if svc.blocked(m.Account) {
			continue
		}
		wg.Go(func() { _ = svc.move(ctx, cf, d, m, inListed, nil) })
	}
	wg.Wait()
	info := svc.confInfo(cf)
	return &info, nil
}

// move applies input in for participant d (roster entry m) of the joined
// conference cf: the one place membership changes, through the membership
// table. c is the pairwise call for inCallUp and inCallEnded. The step's
// messages are sent before move returns; a call it places runs on.
func (svc *Service) move(ctx context.Context, cf *conference, d pcrypto.DeviceID, m confMember, in memberInput, c *calls.Call) error {
	self := svc.ID.DeviceCert.Device
	if d == self {
		return nil
	}
	cf.mu.Lock()
	if !cf.joined {
		cf.mu.Unlock()
		return &service.Refused{Code: "invalid", Reason: "not in that conference"}
	}
	s := memberUnknown
	if _, ok := cf.members[d]; ok {
		s = memberKnown
		if cf.calls[d] != nil {
			s = memberInCall
		}
	}
	if in == inCallEnded && s == memberInCall && cf.calls[d] != c {
		cf.mu.Unlock()
		return nil // a call it replaced ended
	}
	if in == inListed && s == memberUnknown && cf.refused[d] {
		cf.mu.Unlock()
		return nil // it refused our join before
	}
	st := stepMember(s, in)
	switch {
	case st.act&actRefuse != 0:
		cf.mu.Unlock()
		return &service.Refused{Code: "invalid", Reason: "not a member of that conference"}
	case s == memberUnknown && st.next != memberUnknown && len(cf.members) >= cf.max:
		cf.mu.Unlock()
		return &service.Refused{Code: "invalid", Reason: fmt.Sprintf("conference is full (%d)", cf.max)}
	}
	var old *calls.Call
	switch st.next {
	case memberUnknown:
		delete(cf.members, d)
		delete(cf.calls, d)
	case memberKnown:
		if s == memberUnknown {
			cf.members[d] = m
		}
	case memberInCall:
		if in == inCallUp {
			if prev := cf.calls[d]; prev != nil && prev != c {
				old = prev
			}
			cf.calls[d] = c
		}
	}
	if st.act&actSendJoin != 0 {
		cf.awaiting[d] = true
	}
	dial := st.act&actCall != 0 && places(self, d) && cf.calls[d] == nil && !cf.dialing[d]
	if dial {
		cf.dialing[d] = true
	}
	var roster []confMember
	if st.act&actSendMembers != 0 {
		roster = slices.Collect(mapValues(cf.members))
	}
	member := cf.members[d]
	cf.mu.Unlock()
	cid, oid := "", ""
	if c != nil {
		cid = c.Info().ID
	}
	if old != nil {
		oid = old.Info().ID
	}
	svc.Log.Debug("conference member", "conf", calls.CallIDString(cf.id), "member", d, "state", s, "input", in, "next", st.next, "dial", dial, "call", cid, "old", oid)

	if old != nil {
		go old.End("replaced")
	}
	if st.act&actLeft != 0 {
		reason := "left"
		if c != nil {
			reason = c.Info().Reason
		}
		svc.Events.Publish(apitype.Event{Type: apitype.EventConferenceLeft, Time: svc.Now(), Call: calls.CallIDString(cf.id), Device: d.String(), Message: reason})
	}
	if st.act&actSendJoin != 0 {
		cf.mu.Lock()
		msg := confMsg{Kind: confJoin, Conf: calls.CallIDString(cf.id), Max: cf.max, Invitation: cf.invitation}
		cf.mu.Unlock()
		if err := svc.io.introduce(ctx, d, member, msg); err != nil {
			svc.Log.Info("could not reach conference member", "device", d, "err", err)
			cf.mu.Lock()
			if dial {
				delete(cf.dialing, d)
			}
			delete(cf.awaiting, d)
			cf.refused[d] = true
			cf.mu.Unlock()
			return svc.move(ctx, cf, d, member, inCallEnded, nil)
		}
	}
	if roster != nil {
		msg := confMsg{Kind: confMembers, Conf: calls.CallIDString(cf.id), Max: cf.max, Members: roster}
		if err := svc.io.sendConf(ctx, d, msg); err != nil {
			svc.Log.Info("could not send the roster", "device", d, "err", err)
		}
	}
	if dial {
		go svc.io.dial(svc.runCtx(), cf, d, member)
	}
	return nil
}

// introduce sends a join message to member d, reaching its account first
// when not connected.
func (svc *Service) introduce(ctx context.Context, d pcrypto.DeviceID, m confMember, msg confMsg) error {
	if !svc.pres.Connected(peer.ID(d)) {
		if _, _, err := svc.pres.ReachAccount(ctx, m.Account); err != nil {
			return err
		}
	}
	return svc.sendConf(ctx, d, msg)
}

// dial places this device's pairwise call with member d.
func (svc *Service) dial(ctx context.Context, cf *conference, d pcrypto.DeviceID, m confMember) {
	defer func() {
		cf.mu.Lock()
		delete(cf.dialing, d)
		cf.mu.Unlock()
	}()
	acct := m.Account
	cf.mu.Lock()
	opts := svc.memberOpts(cf, d)
	cf.mu.Unlock()
	c, err := svc.calls.StartMemberCall(acct, d, opts, cf.id)
	if err != nil {
		svc.Log.Info("could not call conference member", "device", d, "err", err)
		_ = svc.move(ctx, cf, d, m, inCallEnded, nil)
		return
	}
	svc.Attach(c, d)
}

// memberOpts is the media of the pairwise call with device d: the
// conference's, recording into a directory per participant. Caller holds
// cf.mu.
func (svc *Service) memberOpts(cf *conference, d pcrypto.DeviceID) apitype.CallRequest {
	o := cf.opts
	if o.Record != "" && !isRTPSpec(o.Record) {
		o.Record = filepath.Join(o.Record, d.String())
	}
	return o
}

func isRTPSpec(s string) bool { return len(s) > 6 && s[:6] == "rtp://" }

// AnswerOptions is how a pairwise call of conference conf from device d
// is answered.
func (svc *Service) AnswerOptions(conf callproto.CallID, d pcrypto.DeviceID) apitype.CallAction {
	svc.confMu.Lock()
	cf := svc.confs[conf]
	svc.confMu.Unlock()
	if cf == nil {
		return apitype.CallAction{}
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	o := svc.memberOpts(cf, d)
	return apitype.CallAction{Audio: o.Audio, Video: o.Video, Record: o.Record}
}

// IsMember reports whether d is a member of conference conf, which
// this device has joined.
func (svc *Service) IsMember(conf callproto.CallID, d pcrypto.DeviceID) bool {
	svc.confMu.Lock()
	cf := svc.confs[conf]
	svc.confMu.Unlock()
	if cf == nil {
		return false
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	_, ok := cf.members[d]
	return cf.joined && ok
}

// Attach records c as the pairwise call with device d, and drops d from
// the roster when that call ends while we are still in the conference (a
// participant that left or crashed).
func (svc *Service) Attach(c *calls.Call, d pcrypto.DeviceID) {
	svc.confMu.Lock()
	cf := svc.confs[c.Conference()]
	svc.confMu.Unlock()
	if cf == nil {
		c.End("conference unknown")
		return
	}
	ctx := svc.runCtx()
	if err := svc.move(ctx, cf, d, confMember{}, inCallUp, c); err != nil {
		c.End("not a member of the conference")
		return
	}
	go func() {
		<-c.Done()
		_ = svc.move(ctx, cf, d, confMember{}, inCallEnded, c)
	}()
}

// LeaveConference tells the members and hangs up every pairwise call. The
// conference goes on for the others.
func (svc *Service) LeaveConference(ctx context.Context, confID string) error {
	cf, err := svc.conference(confID)
	if err != nil {
		return err
	}
	svc.confMu.Lock()
	delete(svc.confs, cf.id)
	svc.confMu.Unlock()
	cf.mu.Lock()
	joined := cf.joined
	cf.joined = false
	var devices []pcrypto.DeviceID
	for d := range cf.members {
		if d != svc.ID.DeviceCert.Device {
			devices = append(devices, d)
		}
	}
	calls := slices.Collect(mapValues(cf.calls))
	cf.mu.Unlock()
	if joined {
		msg := confMsg{Kind: confLeave, Conf: confID, Max: cf.max}
		for _, d := range devices {
			if svc.pres.Connected(peer.ID(d)) {
				_ = svc.sendConf(ctx, d, msg)
			}
		}
	}
	for _, c := range calls {
		c.End("left the conference")
	}
	return nil
}

// Conferences lists the conferences this device is in or invited to.
func (svc *Service) Conferences() []apitype.Conference {
	svc.confMu.Lock()
	cfs := slices.Collect(mapValues(svc.confs))
	svc.confMu.Unlock()
	out := make([]apitype.Conference, 0, len(cfs))
	for _, cf := range cfs {
		out = append(out, svc.confInfo(cf))
	}
	slices.SortFunc(out, func(a, b apitype.Conference) int { return cmpString(a.ID, b.ID) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (svc *Service) confInfo(cf *conference) apitype.Conference {
	cf.mu.Lock()
	info := apitype.Conference{ID: calls.CallIDString(cf.id), Max: cf.max, Joined: cf.joined}
	if !cf.inviter.IsZero() {
		info.Inviter = cf.inviter.String()
	}
	type mc struct {
		m confMember
		c *calls.Call
	}
	var ms []mc
	roster := cf.members
	if !cf.joined {
		roster = cf.invited
	}
	for d, m := range roster {
		ms = append(ms, mc{m, cf.calls[d]})
	}
	cf.mu.Unlock()
	for _, x := range ms {
		p := apitype.Participant{Account: x.m.Account.String(), Device: x.m.Device.String(), Name: x.m.Name, Self: x.m.Device == svc.ID.DeviceCert.Device}
		if x.c != nil {
			ci := x.c.Info()
			p.Call = &ci
		}
		info.Participants = append(info.Participants, p)
	}
	slices.SortFunc(info.Participants, func(a, b apitype.Participant) int { return cmpString(a.Device, b.Device) })
	return info
}

// ---- wire ----

// sendConf signs msg and sends it to device d, waiting for the reply.
func (svc *Service) sendConf(ctx context.Context, d pcrypto.DeviceID, msg confMsg) error {
	msg.V, msg.From, msg.Time = 1, svc.selfMember(), svc.Now().UTC()
	payload, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	k := svc.ID.DeviceKey.Ed25519()
	data, err := pcrypto.SignEnvelope(k, confContext, payload)
	clear(k)
	if err != nil {
		return err
	}
	return service.Request(ctx, svc.Host, peer.ID(d), ConferenceProtocol, "conference", data)
}

// handleConfStream reads one conference message and answers it.
func (svc *Service) handleConfStream(s network.Stream) {
	service.ServeOne(svc.Log, s, "conference", svc.receiveConf)
}

// receiveConf verifies and applies a conference message from peer; every
// failure is a refusal the sender is told.
func (svc *Service) receiveConf(from peer.ID, data []byte) error {
	err := svc.applyConf(from, data)
	var r *service.Refused
	if err != nil && !errors.As(err, &r) {
		return &service.Refused{Code: "invalid", Reason: err.Error()}
	}
	return err
}

// applyConf verifies and applies a conference message from peer.
func (svc *Service) applyConf(from peer.ID, data []byte) error {
	if len(data) > service.MaxMessage {
		return fmt.Errorf("message larger than %d bytes", service.MaxMessage)
	}
	env, err := pcrypto.OpenEnvelope(data, confContext, service.MaxMessage)
	if err != nil {
		return err
	}
	var m confMsg
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("malformed payload: %v", err)
	}
	if m.V != 1 || len(m.Members) > maxConferenceLimit || m.Max < 2 || m.Max > maxConferenceLimit {
		return errors.New("unsupported or out-of-range message")
	}
	if d := svc.Now().Sub(m.Time); d > service.ClockSkew || d < -service.ClockSkew {
		return errors.New("message time too far from ours: check the clocks")
	}
	sender, err := svc.verifyMember(m.From)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if peer.ID(sender) != from {
		return errors.New("sent by a peer other than the device it names")
	}
	if pub, err := sender.PublicKey(); err != nil || !bytes.Equal(pub, ed25519.PublicKey(env.Signer)) {
		return errors.New("signed by a key other than the sending device's")
	}
	if svc.blocked(m.From.Account) {
		return &service.Refused{Code: "invalid", Reason: "refused"}
	}
	id, err := calls.ParseCallID(m.Conf)
	if err != nil {
		return err
	}
	switch m.Kind {
	case confInvite:
		return svc.onInvite(id, m, data)
	case confJoin:
		return svc.onJoin(id, sender, m)
	case confLeave:
		if cf := svc.joined(id); cf != nil {
			return svc.move(svc.runCtx(), cf, sender, m.From, inLeave, nil)
		}
		return nil
	case confMembers:
		return svc.onMembers(id, sender, m)
	}
	return fmt.Errorf("unknown kind %q", m.Kind)
}

// onInvite records an invitation from a contact, with its verified roster.
// An invitation to a conference this device is in already lists members
// it may not know yet.
func (svc *Service) onInvite(id callproto.CallID, m confMsg, signed []byte) error {
	if c, err := svc.Store.Contact(m.From.Account); err != nil || c.State != store.Accepted {
		return &service.Refused{Code: "invalid", Reason: "invitations are taken from contacts only"}
	}
	if m.To != svc.ID.AccountCert.ID {
		return &service.Refused{Code: "invalid", Reason: "invitation addressed to another account"}
	}
	members, err := svc.verifyRoster(m.Members)
	if err != nil {
		return err
	}
	if cf := svc.joined(id); cf != nil {
		svc.listed(cf, members)
		return nil
	}
	svc.confMu.Lock()
	if svc.confs == nil {
		svc.confs = map[callproto.CallID]*conference{}
	}
	cf, ok := svc.confs[id]
	if !ok {
		svc.dropOldestInvitationLocked()
		cf = newConference(id, m.Max, m.From.Account)
		svc.invitations++
		cf.invitedSeq = svc.invitations
		svc.confs[id] = cf
	}
	svc.confMu.Unlock()
	cf.mu.Lock()
	for d, mm := range members {
		if len(cf.invited) < cf.max {
			cf.invited[d] = mm
		}
	}
	if cf.invitation == nil {
		cf.invitation = bytes.Clone(signed)
	}
	count := len(cf.invited)
	cf.mu.Unlock()
	svc.Events.Publish(apitype.Event{Type: apitype.EventConferenceInvite, Time: svc.Now(), Account: m.From.Account.String(), Call: m.Conf,
		Message: fmt.Sprintf("%d participant(s); join with: parley conference join %s", count, m.Conf)})
	return nil
}

// onJoin takes a participant that introduces itself.
func (svc *Service) onJoin(id callproto.CallID, sender pcrypto.DeviceID, m confMsg) error {
	cf := svc.joined(id)
	if cf == nil {
		return &service.Refused{Code: "invalid", Reason: "not in that conference"}
	}
	if err := svc.mayJoin(cf, sender, m); err != nil {
		return &service.Refused{Code: "invalid", Reason: err.Error()}
	}
	if err := svc.move(svc.runCtx(), cf, sender, m.From, inJoin, nil); err != nil {
		return err
	}
	svc.Events.Publish(apitype.Event{Type: apitype.EventConferenceJoined, Time: svc.Now(), Account: m.From.Account.String(), Device: m.From.Device.String(), Call: m.Conf})
	return nil
}

// maxInvitationAge bounds how long an invitation lets its holder join.
const maxInvitationAge = 24 * time.Hour

// mayJoin decides whether a device that introduces itself may join: a
// member already known here, a device of an accepted contact, or one
// showing a signed invitation naming its account from a member known
// here (or from this device). Knowing the conference ID is not enough.
func (svc *Service) mayJoin(cf *conference, sender pcrypto.DeviceID, m confMsg) error {
	cf.mu.Lock()
	_, known := cf.members[sender]
	cf.mu.Unlock()
	if known {
		return nil
	}
	if c, err := svc.Store.Contact(m.From.Account); err == nil && c.State == store.Accepted {
		return nil
	}
	if len(m.Invitation) == 0 {
		return errors.New("not invited: a join must show the invitation it was sent")
	}
	env, err := pcrypto.OpenEnvelope(m.Invitation, confContext, service.MaxMessage)
	if err != nil {
		return fmt.Errorf("invitation: %w", err)
	}
	var inv confMsg
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return fmt.Errorf("invitation: malformed: %v", err)
	}
	switch {
	case inv.Kind != confInvite || inv.Conf != m.Conf:
		return errors.New("invitation: not an invitation to this conference")
	case inv.To != m.From.Account:
		return errors.New("invitation: addressed to another account")
	case svc.Now().Sub(inv.Time) > maxInvitationAge:
		return errors.New("invitation: expired")
	}
	inviter, err := svc.verifyMember(inv.From)
	if err != nil {
		return fmt.Errorf("invitation: inviter: %w", err)
	}
	if pub, err := inviter.PublicKey(); err != nil || !bytes.Equal(pub, ed25519.PublicKey(env.Signer)) {
		return errors.New("invitation: not signed by the inviting device")
	}
	cf.mu.Lock()
	_, inviterKnown := cf.members[inviter]
	cf.mu.Unlock()
	if !inviterKnown && inviter != svc.ID.DeviceCert.Device {
		return errors.New("invitation: from a device that is not a member here")
	}
	return nil
}

// onMembers takes the roster a participant sent us in answer to our join:
// everyone in it we do not know yet is "listed".
func (svc *Service) onMembers(id callproto.CallID, sender pcrypto.DeviceID, m confMsg) error {
	cf := svc.joined(id)
	if cf == nil {
		return &service.Refused{Code: "invalid", Reason: "not in that conference"}
	}
	cf.mu.Lock()
	_, known := cf.members[sender]
	asked := cf.awaiting[sender]
	delete(cf.awaiting, sender)
	cf.mu.Unlock()
	if !known || !asked {
		return &service.Refused{Code: "invalid", Reason: "a roster is taken only in answer to our join"}
	}
	members, err := svc.verifyRoster(m.Members)
	if err != nil {
		return err
	}
	go svc.listed(cf, members)
	return nil
}

// listed introduces this device to every member of a received roster
// (blocked accounts skipped).
func (svc *Service) listed(cf *conference, members map[pcrypto.DeviceID]confMember) {
	ctx := svc.runCtx()
	var wg sync.WaitGroup
	for d, mm := range members {
		if svc.blocked(mm.Account) {
			continue
		}
		wg.Go(func() { _ = svc.move(ctx, cf, d, mm, inListed, nil) })
	}
	wg.Wait()
}

// verifyRoster verifies every entry of a received roster (this device
// left out).
func (svc *Service) verifyRoster(roster []confMember) (map[pcrypto.DeviceID]confMember, error) {
	members := map[pcrypto.DeviceID]confMember{}
	for _, mm := range roster {
		d, err := svc.verifyMember(mm)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", mm.Device, err)
		}
		if d != svc.ID.DeviceCert.Device {
			members[d] = mm
		}
	}
	return members, nil
}

// maxPendingInvitations bounds the invitations kept but not joined: any
// contact can send any number of them, each with a new conference ID.
const maxPendingInvitations = 16

// dropOldestInvitationLocked forgets the oldest invitation not joined when
// maxPendingInvitations are held. The caller holds svc.confMu.
func (svc *Service) dropOldestInvitationLocked() {
	var oldest *conference
	pending := 0
	for _, cf := range svc.confs {
		cf.mu.Lock()
		joined := cf.joined
		cf.mu.Unlock()
		if joined {
			continue
		}
		pending++
		if oldest == nil || cf.invitedSeq < oldest.invitedSeq {
			oldest = cf
		}
	}
	if pending >= maxPendingInvitations && oldest != nil {
		delete(svc.confs, oldest.id)
		svc.droppedInvitations.Add(1)
		svc.Log.Info("oldest pending conference invitation dropped to make room", "conf", calls.CallIDString(oldest.id), "max", maxPendingInvitations)
	}
}

// joined returns conference id if this device is in it, else nil.
func (svc *Service) joined(id callproto.CallID) *conference {
	svc.confMu.Lock()
	cf := svc.confs[id]
	svc.confMu.Unlock()
	if cf == nil {
		return nil
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if !cf.joined {
		return nil
	}
	return cf
}

// newConference returns an empty conference.
func newConference(id callproto.CallID, max int, inviter pcrypto.AccountID) *conference {
	return &conference{
		id: id, max: max, inviter: inviter,
		invited: map[pcrypto.DeviceID]confMember{}, members: map[pcrypto.DeviceID]confMember{},
		calls: map[pcrypto.DeviceID]*calls.Call{}, dialing: map[pcrypto.DeviceID]bool{},
		awaiting: map[pcrypto.DeviceID]bool{}, refused: map[pcrypto.DeviceID]bool{},
	}
}
