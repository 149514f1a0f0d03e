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
	confInvite = "invite"
	confJoin   = "join"
	confLeave  = "leave"
)

// Errors of the conference API.
var (
	// ErrNoSuchConference is returned for an unknown conference ID.
	ErrNoSuchConference = errors.New("no such conference")
	// ErrConferenceFull is returned when a join would exceed the limit.
	ErrConferenceFull = errors.New("conference is full")
)

// confMember is one participant, introduced with its certificate chain.
type confMember struct {
	Account     string `json:"account"`
	Device      string `json:"device"`
	Name        string `json:"name,omitempty"`
	AccountCert []byte `json:"account_cert"`
	DeviceCert  []byte `json:"device_cert"`
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
}

// conference is a group call this device was invited to or is part of.
type conference struct {
	id  callproto.CallID
	max int

	mu      sync.Mutex // guards the following fields
	joined  bool
	inviter string
	members map[pcrypto.DeviceID]confMember  // verified; includes this device once joined
	calls   map[pcrypto.DeviceID]*calls.Call // pairwise calls by peer device
	opts    apitype.CallRequest              // media of the pairwise calls
}

// self describes this device as a conference member.
func (svc *Service) selfMember() confMember {
	return confMember{
		Account: svc.id.AccountCert.ID.String(), Device: svc.id.DeviceCert.Device.String(), Name: svc.id.DeviceCert.Name,
		AccountCert: svc.id.AccountCert.Raw(), DeviceCert: svc.id.DeviceCert.Raw(),
	}
}

// verifyMember checks a member's chain and returns its device ID.
func (svc *Service) verifyMember(m confMember) (pcrypto.DeviceID, error) {
	acct, err := pcrypto.ParseAccountID(m.Account)
	if err != nil {
		return "", err
	}
	ac, err := pcrypto.ParseAccountCert(m.AccountCert)
	if err != nil {
		return "", err
	}
	dc, err := pcrypto.ParseDeviceCert(m.DeviceCert)
	if err != nil {
		return "", err
	}
	var crl *pcrypto.CRL
	if rec := svc.pres.CachedAccount(acct, svc.o.Now(), time.Hour); rec != nil {
		crl = rec.CRL
	}
	if err := pcrypto.VerifyDevice(acct, ac, dc, crl, svc.o.Now()); err != nil {
		return "", err
	}
	if m.Device != dc.Device.String() {
		return "", errors.New("member device ID does not match its certificate")
	}
	return dc.Device, nil
}

// blocked reports whether account is blocked here.
func (svc *Service) blocked(account string) bool {
	c, err := svc.st.Contact(account)
	return err == nil && c.State == store.Blocked
}

func (svc *Service) conference(id string) (*conference, error) {
	cid, err := calls.ParseCallID(id)
	if err != nil {
		return nil, err
	}
	svc.confMu.Lock()
	defer svc.confMu.Unlock()
	cf := svc.confs[cid]
	if cf == nil {
		return nil, fmt.Errorf("%w: %s (see parley conference list)", ErrNoSuchConference, id)
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
	cf := &conference{max: max, joined: true, opts: opts, members: map[pcrypto.DeviceID]confMember{}, calls: map[pcrypto.DeviceID]*calls.Call{}}
	if _, err := rand.Read(cf.id[:]); err != nil {
		return nil, err
	}
	cf.members[svc.id.DeviceCert.Device] = svc.selfMember()
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
func (svc *Service) InviteToConference(ctx context.Context, confID, account string) error {
	cf, err := svc.conference(confID)
	if err != nil {
		return err
	}
	acct, err := svc.contacts.CanonicalAccount(account)
	if err != nil {
		return err
	}
	if c, err := svc.st.Contact(acct); err != nil || c.State != store.Accepted {
		return fmt.Errorf("%w: %s is not an accepted contact", service.ErrConflict, acct)
	}
	cf.mu.Lock()
	if !cf.joined {
		cf.mu.Unlock()
		return fmt.Errorf("%w: join the conference before inviting others", service.ErrConflict)
	}
	msg := confMsg{Kind: confInvite, Conf: calls.CallIDString(cf.id), Max: cf.max, Members: slices.Collect(mapValues(cf.members))}
	cf.mu.Unlock()
	id, _ := pcrypto.ParseAccountID(acct)
	_, results, err := svc.pres.ReachAccount(ctx, id)
	if err != nil {
		return fmt.Errorf("%w: %w", calls.ErrUnreachable, err)
	}
	sent := 0
	for _, r := range results {
		if !r.Connected || r.Cert.Device == svc.id.DeviceCert.Device {
			continue
		}
		if err := svc.sendConf(ctx, r.Cert.Device, msg); err != nil {
			svc.log.Info("conference invite not delivered", "device", r.Cert.Device, "err", err)
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

// JoinConference joins a conference we were invited to: every member is
// told (and acknowledges), then this device calls each of them.
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
	if len(cf.members) >= cf.max {
		cf.mu.Unlock()
		return nil, fmt.Errorf("%w: %d of %d", ErrConferenceFull, len(cf.members), cf.max)
	}
	cf.joined, cf.opts = true, opts
	others := make([]confMember, 0, len(cf.members))
	for _, m := range cf.members {
		others = append(others, m)
	}
	cf.members[svc.id.DeviceCert.Device] = svc.selfMember()
	roster := slices.Collect(mapValues(cf.members))
	cf.mu.Unlock()

	msg := confMsg{Kind: confJoin, Conf: confID, Max: cf.max, Members: roster}
	var wg sync.WaitGroup
	for _, m := range others {
		d, _ := pcrypto.ParseDeviceID(m.Device)
		if svc.blocked(m.Account) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.confJoinMember(ctx, cf, d, m, msg); err != nil {
				svc.log.Info("could not join conference member", "device", d, "err", err)
				cf.mu.Lock()
				delete(cf.members, d)
				cf.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	info := svc.confInfo(cf)
	return &info, nil
}

// confJoinMember tells one member we join and calls it.
func (svc *Service) confJoinMember(ctx context.Context, cf *conference, d pcrypto.DeviceID, m confMember, msg confMsg) error {
	acct, err := pcrypto.ParseAccountID(m.Account)
	if err != nil {
		return err
	}
	if !svc.pres.Connected(peer.ID(d)) {
		if _, _, err := svc.pres.ReachAccount(ctx, acct); err != nil {
			return err
		}
	}
	if err := svc.sendConf(ctx, d, msg); err != nil {
		return err
	}
	cf.mu.Lock()
	opts := svc.memberOpts(cf, d)
	cf.mu.Unlock()
	c, err := svc.calls.StartMemberCall(acct, d, opts, cf.id)
	if err != nil {
		return err
	}
	svc.Attach(c, d)
	return nil
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

// Attach records c as the pairwise call with device d, and drops d
// from the roster when that call ends while we are still in the conference
// (a participant that crashed or left).
func (svc *Service) Attach(c *calls.Call, d pcrypto.DeviceID) {
	svc.confMu.Lock()
	cf := svc.confs[c.Conference()]
	svc.confMu.Unlock()
	if cf == nil {
		c.End("conference unknown")
		return
	}
	cf.mu.Lock()
	if old := cf.calls[d]; old != nil && old != c {
		go old.End("replaced")
	}
	cf.calls[d] = c
	cf.mu.Unlock()
	go func() {
		<-c.Done()
		cf.mu.Lock()
		if cf.calls[d] == c {
			delete(cf.calls, d)
			delete(cf.members, d)
		}
		cf.mu.Unlock()
		svc.ev.Publish(apitype.Event{Type: apitype.EventConferenceLeft, Time: svc.o.Now(), Call: calls.CallIDString(cf.id), Device: d.String(), Message: c.Info().Reason})
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
		if d != svc.id.DeviceCert.Device {
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
	info := apitype.Conference{ID: calls.CallIDString(cf.id), Max: cf.max, Joined: cf.joined, Inviter: cf.inviter}
	type mc struct {
		m confMember
		c *calls.Call
	}
	var ms []mc
	for d, m := range cf.members {
		ms = append(ms, mc{m, cf.calls[d]})
	}
	cf.mu.Unlock()
	for _, x := range ms {
		p := apitype.Participant{Account: x.m.Account, Device: x.m.Device, Name: x.m.Name, Self: x.m.Device == svc.id.DeviceCert.Device.String()}
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
	msg.V, msg.From, msg.Time = 1, svc.selfMember(), svc.o.Now().UTC()
	payload, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	k := svc.id.DeviceKey.Ed25519()
	data, err := pcrypto.SignEnvelope(k, confContext, payload)
	clear(k)
	if err != nil {
		return err
	}
	return service.Request(ctx, svc.h, peer.ID(d), ConferenceProtocol, "conference", data)
}

// handleConfStream reads one conference message and answers it.
func (svc *Service) handleConfStream(s network.Stream) {
	service.ServeOne(svc.log, s, "conference", svc.receiveConf)
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
	if d := svc.o.Now().Sub(m.Time); d > service.ClockSkew || d < -service.ClockSkew {
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
		return svc.onInvite(id, m)
	case confJoin:
		return svc.onJoin(id, sender, m)
	case confLeave:
		svc.confMu.Lock()
		cf := svc.confs[id]
		svc.confMu.Unlock()
		if cf != nil {
			cf.mu.Lock()
			delete(cf.members, sender)
			cf.mu.Unlock()
		}
		return nil
	}
	return fmt.Errorf("unknown kind %q", m.Kind)
}

// onInvite records an invitation from a contact, with its verified roster.
func (svc *Service) onInvite(id callproto.CallID, m confMsg) error {
	if c, err := svc.st.Contact(m.From.Account); err != nil || c.State != store.Accepted {
		return &service.Refused{Code: "invalid", Reason: "invitations are taken from contacts only"}
	}
	members := map[pcrypto.DeviceID]confMember{}
	for _, mm := range m.Members {
		d, err := svc.verifyMember(mm)
		if err != nil {
			return fmt.Errorf("member %s: %w", mm.Device, err)
		}
		if d == svc.id.DeviceCert.Device {
			continue
		}
		members[d] = mm
	}
	count := len(members) // members is shared once stored
	svc.confMu.Lock()
	if svc.confs == nil {
		svc.confs = map[callproto.CallID]*conference{}
	}
	if _, ok := svc.confs[id]; !ok {
		svc.confs[id] = &conference{id: id, max: m.Max, inviter: m.From.Account, members: members, calls: map[pcrypto.DeviceID]*calls.Call{}}
	}
	svc.confMu.Unlock()
	svc.ev.Publish(apitype.Event{Type: apitype.EventConferenceInvite, Time: svc.o.Now(), Account: m.From.Account, Call: m.Conf,
		Message: fmt.Sprintf("%d participant(s); join with: parley conference join %s", count, m.Conf)})
	return nil
}

// onJoin adds a verified participant that announces itself; its call
// follows.
func (svc *Service) onJoin(id callproto.CallID, sender pcrypto.DeviceID, m confMsg) error {
	svc.confMu.Lock()
	cf := svc.confs[id]
	svc.confMu.Unlock()
	if cf == nil {
		return &service.Refused{Code: "invalid", Reason: "not in that conference"}
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if !cf.joined {
		return &service.Refused{Code: "invalid", Reason: "not in that conference"}
	}
	if _, ok := cf.members[sender]; !ok && len(cf.members) >= cf.max {
		return &service.Refused{Code: "invalid", Reason: fmt.Sprintf("conference is full (%d)", cf.max)}
	}
	cf.members[sender] = m.From
	// Members introduced by the joiner's roster that we do not know yet
	// are not added: each participant introduces itself when it joins.
	svc.ev.Publish(apitype.Event{Type: apitype.EventConferenceJoined, Time: svc.o.Now(), Account: m.From.Account, Device: m.From.Device, Call: m.Conf})
	return nil
}
