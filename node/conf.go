package node

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
	members map[pcrypto.DeviceID]confMember // verified; includes this device once joined
	calls   map[pcrypto.DeviceID]*call      // pairwise calls by peer device
	opts    apitype.CallRequest             // media of the pairwise calls
}

// self describes this device as a conference member.
func (n *Node) selfMember() confMember {
	return confMember{
		Account: n.id.AccountCert.ID.String(), Device: n.id.DeviceCert.Device.String(), Name: n.id.DeviceCert.Name,
		AccountCert: n.id.AccountCert.Raw(), DeviceCert: n.id.DeviceCert.Raw(),
	}
}

// verifyMember checks a member's chain and returns its device ID.
func (n *Node) verifyMember(m confMember) (pcrypto.DeviceID, error) {
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
	if rec := n.cache.get(acct, n.o.Now(), time.Hour); rec != nil {
		crl = rec.CRL
	}
	if err := pcrypto.VerifyDevice(acct, ac, dc, crl, n.o.Now()); err != nil {
		return "", err
	}
	if m.Device != dc.Device.String() {
		return "", errors.New("member device ID does not match its certificate")
	}
	return dc.Device, nil
}

// blocked reports whether account is blocked here.
func (n *Node) blocked(account string) bool {
	c, err := n.st.Contact(account)
	return err == nil && c.State == store.Blocked
}

func (n *Node) conference(id string) (*conference, error) {
	cid, err := parseCallID(id)
	if err != nil {
		return nil, err
	}
	n.confMu.Lock()
	defer n.confMu.Unlock()
	cf := n.confs[cid]
	if cf == nil {
		return nil, fmt.Errorf("%w: %s (see parley conference list)", ErrNoSuchConference, id)
	}
	return cf, nil
}

// StartConference creates a conference with this device as its first
// participant; max ≤ 0 means DefaultConferenceMax.
func (n *Node) StartConference(max int, opts apitype.CallRequest) (*apitype.Conference, error) {
	if max <= 0 {
		max = DefaultConferenceMax
	}
	if max < 2 || max > maxConferenceLimit {
		return nil, fmt.Errorf("%w: --max %d (2..%d)", ErrInvalidInput, max, maxConferenceLimit)
	}
	ss, err := openSources(opts.Audio, opts.Video)
	if err != nil {
		return nil, err
	}
	closeSources(ss) // checked only: each pairwise call opens its own
	cf := &conference{max: max, joined: true, opts: opts, members: map[pcrypto.DeviceID]confMember{}, calls: map[pcrypto.DeviceID]*call{}}
	if _, err := rand.Read(cf.id[:]); err != nil {
		return nil, err
	}
	cf.members[n.id.DeviceCert.Device] = n.selfMember()
	n.confMu.Lock()
	if n.confs == nil {
		n.confs = map[callproto.CallID]*conference{}
	}
	n.confs[cf.id] = cf
	n.confMu.Unlock()
	info := n.confInfo(cf)
	return &info, nil
}

// InviteToConference sends the roster to every online device of a contact.
func (n *Node) InviteToConference(ctx context.Context, confID, account string) error {
	cf, err := n.conference(confID)
	if err != nil {
		return err
	}
	acct, err := n.canonicalAccount(account)
	if err != nil {
		return err
	}
	if c, err := n.st.Contact(acct); err != nil || c.State != store.Accepted {
		return fmt.Errorf("%w: %s is not an accepted contact", ErrConflict, acct)
	}
	cf.mu.Lock()
	if !cf.joined {
		cf.mu.Unlock()
		return fmt.Errorf("%w: join the conference before inviting others", ErrConflict)
	}
	msg := confMsg{Kind: confInvite, Conf: callIDString(cf.id), Max: cf.max, Members: slices.Collect(mapValues(cf.members))}
	cf.mu.Unlock()
	id, _ := pcrypto.ParseAccountID(acct)
	_, results, err := n.reachAccount(ctx, id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	sent := 0
	for _, r := range results {
		if !r.connected || r.cert.Device == n.id.DeviceCert.Device {
			continue
		}
		if err := n.sendConf(ctx, r.cert.Device, msg); err != nil {
			n.log.Info("conference invite not delivered", "device", r.cert.Device, "err", err)
			continue
		}
		sent++
	}
	if sent == 0 {
		return fmt.Errorf("%w: %s", ErrUnreachable, acct)
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
func (n *Node) JoinConference(ctx context.Context, confID string, opts apitype.CallRequest) (*apitype.Conference, error) {
	cf, err := n.conference(confID)
	if err != nil {
		return nil, err
	}
	ss, err := openSources(opts.Audio, opts.Video)
	if err != nil {
		return nil, err
	}
	closeSources(ss) // checked only: each pairwise call opens its own
	cf.mu.Lock()
	if cf.joined {
		cf.mu.Unlock()
		return nil, fmt.Errorf("%w: already in conference %s", ErrConflict, confID)
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
	cf.members[n.id.DeviceCert.Device] = n.selfMember()
	roster := slices.Collect(mapValues(cf.members))
	cf.mu.Unlock()

	msg := confMsg{Kind: confJoin, Conf: confID, Max: cf.max, Members: roster}
	var wg sync.WaitGroup
	for _, m := range others {
		d, _ := pcrypto.ParseDeviceID(m.Device)
		if n.blocked(m.Account) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.confJoinMember(ctx, cf, d, m, msg); err != nil {
				n.log.Info("could not join conference member", "device", d, "err", err)
				cf.mu.Lock()
				delete(cf.members, d)
				cf.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	info := n.confInfo(cf)
	return &info, nil
}

// confJoinMember tells one member we join and calls it.
func (n *Node) confJoinMember(ctx context.Context, cf *conference, d pcrypto.DeviceID, m confMember, msg confMsg) error {
	acct, err := pcrypto.ParseAccountID(m.Account)
	if err != nil {
		return err
	}
	if !n.connected(peerOf(d)) {
		if _, _, err := n.reachAccount(ctx, acct); err != nil {
			return err
		}
	}
	if err := n.sendConf(ctx, d, msg); err != nil {
		return err
	}
	cf.mu.Lock()
	opts := n.memberOpts(cf, d)
	cf.mu.Unlock()
	c, err := n.startCall(acct, []pcrypto.DeviceID{d}, opts, cf.id)
	if err != nil {
		return err
	}
	n.confAttach(c, d)
	return nil
}

// memberOpts is the media of the pairwise call with device d: the
// conference's, recording into a directory per participant. Caller holds
// cf.mu.
func (n *Node) memberOpts(cf *conference, d pcrypto.DeviceID) apitype.CallRequest {
	o := cf.opts
	if o.Record != "" && !isRTPSpec(o.Record) {
		o.Record = filepath.Join(o.Record, d.String())
	}
	return o
}

func isRTPSpec(s string) bool { return len(s) > 6 && s[:6] == "rtp://" }

// conferenceAnswer is how a pairwise call of conference conf from device d
// is answered.
func (n *Node) conferenceAnswer(conf callproto.CallID, d pcrypto.DeviceID) apitype.CallAction {
	n.confMu.Lock()
	cf := n.confs[conf]
	n.confMu.Unlock()
	if cf == nil {
		return apitype.CallAction{}
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	o := n.memberOpts(cf, d)
	return apitype.CallAction{Audio: o.Audio, Video: o.Video, Record: o.Record}
}

// conferenceMember reports whether d is a member of conference conf, which
// this device has joined.
func (n *Node) conferenceMember(conf callproto.CallID, d pcrypto.DeviceID) bool {
	n.confMu.Lock()
	cf := n.confs[conf]
	n.confMu.Unlock()
	if cf == nil {
		return false
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	_, ok := cf.members[d]
	return cf.joined && ok
}

// confAttach records c as the pairwise call with device d, and drops d
// from the roster when that call ends while we are still in the conference
// (a participant that crashed or left).
func (n *Node) confAttach(c *call, d pcrypto.DeviceID) {
	n.confMu.Lock()
	cf := n.confs[c.conf]
	n.confMu.Unlock()
	if cf == nil {
		c.end("conference unknown", callproto.ControlHangup)
		return
	}
	cf.mu.Lock()
	if old := cf.calls[d]; old != nil && old != c {
		go old.end("replaced", callproto.ControlHangup)
	}
	cf.calls[d] = c
	cf.mu.Unlock()
	go func() {
		<-c.done
		cf.mu.Lock()
		if cf.calls[d] == c {
			delete(cf.calls, d)
			delete(cf.members, d)
		}
		cf.mu.Unlock()
		n.ev.publish(apitype.Event{Type: apitype.EventConferenceLeft, Time: n.o.Now(), Call: callIDString(cf.id), Device: d.String(), Message: c.info().Reason})
	}()
}

// LeaveConference tells the members and hangs up every pairwise call. The
// conference goes on for the others.
func (n *Node) LeaveConference(ctx context.Context, confID string) error {
	cf, err := n.conference(confID)
	if err != nil {
		return err
	}
	n.confMu.Lock()
	delete(n.confs, cf.id)
	n.confMu.Unlock()
	cf.mu.Lock()
	joined := cf.joined
	cf.joined = false
	var devices []pcrypto.DeviceID
	for d := range cf.members {
		if d != n.id.DeviceCert.Device {
			devices = append(devices, d)
		}
	}
	calls := slices.Collect(mapValues(cf.calls))
	cf.mu.Unlock()
	if joined {
		msg := confMsg{Kind: confLeave, Conf: confID, Max: cf.max}
		for _, d := range devices {
			if n.connected(peerOf(d)) {
				_ = n.sendConf(ctx, d, msg)
			}
		}
	}
	for _, c := range calls {
		c.end("left the conference", callproto.ControlHangup)
	}
	return nil
}

// Conferences lists the conferences this device is in or invited to.
func (n *Node) Conferences() []apitype.Conference {
	n.confMu.Lock()
	cfs := slices.Collect(mapValues(n.confs))
	n.confMu.Unlock()
	out := make([]apitype.Conference, 0, len(cfs))
	for _, cf := range cfs {
		out = append(out, n.confInfo(cf))
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

func (n *Node) confInfo(cf *conference) apitype.Conference {
	cf.mu.Lock()
	info := apitype.Conference{ID: callIDString(cf.id), Max: cf.max, Joined: cf.joined, Inviter: cf.inviter}
	type mc struct {
		m confMember
		c *call
	}
	var ms []mc
	for d, m := range cf.members {
		ms = append(ms, mc{m, cf.calls[d]})
	}
	cf.mu.Unlock()
	for _, x := range ms {
		p := apitype.Participant{Account: x.m.Account, Device: x.m.Device, Name: x.m.Name, Self: x.m.Device == n.id.DeviceCert.Device.String()}
		if x.c != nil {
			ci := x.c.info()
			p.Call = &ci
		}
		info.Participants = append(info.Participants, p)
	}
	slices.SortFunc(info.Participants, func(a, b apitype.Participant) int { return cmpString(a.Device, b.Device) })
	return info
}

// ---- wire ----

// sendConf signs msg and sends it to device d, waiting for the reply.
func (n *Node) sendConf(ctx context.Context, d pcrypto.DeviceID, msg confMsg) error {
	msg.V, msg.From, msg.Time = 1, n.selfMember(), n.o.Now().UTC()
	payload, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	k := n.id.DeviceKey.Ed25519()
	data, err := pcrypto.SignEnvelope(k, confContext, payload)
	clear(k)
	if err != nil {
		return err
	}
	return n.request(ctx, peerOf(d), ConferenceProtocol, "conference", data)
}

// handleConfStream reads one conference message and answers it.
func (n *Node) handleConfStream(s network.Stream) { n.serveOne(s, "conference", n.receiveConf) }

// receiveConf verifies and applies a conference message from peer; every
// failure is a refusal the sender is told.
func (n *Node) receiveConf(from peer.ID, data []byte) error {
	err := n.applyConf(from, data)
	var r *errRefused
	if err != nil && !errors.As(err, &r) {
		return &errRefused{code: "invalid", reason: err.Error()}
	}
	return err
}

// applyConf verifies and applies a conference message from peer.
func (n *Node) applyConf(from peer.ID, data []byte) error {
	if len(data) > maxContactMessage {
		return fmt.Errorf("message larger than %d bytes", maxContactMessage)
	}
	env, err := pcrypto.OpenEnvelope(data, confContext, maxContactMessage)
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
	if d := n.o.Now().Sub(m.Time); d > contactClockSkew || d < -contactClockSkew {
		return errors.New("message time too far from ours: check the clocks")
	}
	sender, err := n.verifyMember(m.From)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if peerOf(sender) != from {
		return errors.New("sent by a peer other than the device it names")
	}
	if pub, err := sender.PublicKey(); err != nil || !bytes.Equal(pub, ed25519.PublicKey(env.Signer)) {
		return errors.New("signed by a key other than the sending device's")
	}
	if n.blocked(m.From.Account) {
		return &errRefused{code: "invalid", reason: "refused"}
	}
	id, err := parseCallID(m.Conf)
	if err != nil {
		return err
	}
	switch m.Kind {
	case confInvite:
		return n.onInvite(id, m)
	case confJoin:
		return n.onJoin(id, sender, m)
	case confLeave:
		n.confMu.Lock()
		cf := n.confs[id]
		n.confMu.Unlock()
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
func (n *Node) onInvite(id callproto.CallID, m confMsg) error {
	if c, err := n.st.Contact(m.From.Account); err != nil || c.State != store.Accepted {
		return &errRefused{code: "invalid", reason: "invitations are taken from contacts only"}
	}
	members := map[pcrypto.DeviceID]confMember{}
	for _, mm := range m.Members {
		d, err := n.verifyMember(mm)
		if err != nil {
			return fmt.Errorf("member %s: %w", mm.Device, err)
		}
		if d == n.id.DeviceCert.Device {
			continue
		}
		members[d] = mm
	}
	count := len(members) // members is shared once stored
	n.confMu.Lock()
	if n.confs == nil {
		n.confs = map[callproto.CallID]*conference{}
	}
	if _, ok := n.confs[id]; !ok {
		n.confs[id] = &conference{id: id, max: m.Max, inviter: m.From.Account, members: members, calls: map[pcrypto.DeviceID]*call{}}
	}
	n.confMu.Unlock()
	n.ev.publish(apitype.Event{Type: apitype.EventConferenceInvite, Time: n.o.Now(), Account: m.From.Account, Call: m.Conf,
		Message: fmt.Sprintf("%d participant(s); join with: parley conference join %s", count, m.Conf)})
	return nil
}

// onJoin adds a verified participant that announces itself; its call
// follows.
func (n *Node) onJoin(id callproto.CallID, sender pcrypto.DeviceID, m confMsg) error {
	n.confMu.Lock()
	cf := n.confs[id]
	n.confMu.Unlock()
	if cf == nil {
		return &errRefused{code: "invalid", reason: "not in that conference"}
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if !cf.joined {
		return &errRefused{code: "invalid", reason: "not in that conference"}
	}
	if _, ok := cf.members[sender]; !ok && len(cf.members) >= cf.max {
		return &errRefused{code: "invalid", reason: fmt.Sprintf("conference is full (%d)", cf.max)}
	}
	cf.members[sender] = m.From
	// Members introduced by the joiner's roster that we do not know yet
	// are not added: each participant introduces itself when it joins.
	n.ev.publish(apitype.Event{Type: apitype.EventConferenceJoined, Time: n.o.Now(), Account: m.From.Account, Device: m.From.Device, Call: m.Conf})
	return nil
}
