package contacts

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ContactProtocol carries contact requests, acceptances and declines between
// devices. One stream carries one signed message and one reply.
const ContactProtocol = "/parley/contact/1.0.0"

// contactContext is the signing context of contact messages.
const contactContext = "parley/contact/v1"

// Bounds on the contact protocol.
const (
	maxNameLen    = 128
	maxMessageLen = 1024
)

// Kinds of contact message.
const (
	kindRequest = "request"
	kindAccept  = "accept"
	kindDecline = "decline"
	// kindRemove tells a contact that the sender removed it.
	kindRemove = "remove"
	// kindUpdate carries the sender's account record, pushed to contacts
	// when its devices or revocations change (devices.go).
	kindUpdate = "update"
)

// contactMsg is the payload of a contact message's signed envelope; see
// docs/protocol.md.
type contactMsg struct {
	V           int               `json:"v"`
	Kind        string            `json:"kind"`
	From        pcrypto.AccountID `json:"from"` // text form; parsed when decoded
	To          pcrypto.AccountID `json:"to"`
	AccountCert []byte            `json:"account_cert"`
	DeviceCert  []byte            `json:"device_cert"`
	Name        string            `json:"name,omitempty"`
	Message     string            `json:"message,omitempty"`
	Time        time.Time         `json:"time"`
	Nonce       string            `json:"nonce"`
	// Record is the sender's signed account record (kind "update"; may
	// be absent from an update that carries a presence key only).
	Record []byte `json:"record,omitempty"`
	// PresenceKey and PresenceGen are the sender account's presence key
	// and its generation (kinds "accept" and "update" only): what opens
	// its devices' presence records.
	PresenceKey []byte `json:"presence_key,omitempty"`
	PresenceGen uint32 `json:"presence_gen,omitempty"`
}

// presenceKey returns the presence key the message carries (zero if none).
func (m *contactMsg) presenceKey() store.PresenceKey {
	var k store.PresenceKey
	if m.PresenceGen == 0 || len(m.PresenceKey) != store.PresenceKeyLen {
		return k
	}
	k.Gen = m.PresenceGen
	copy(k.Key[:], m.PresenceKey)
	return k
}

// checkPresenceKey refuses a malformed presence key and one in a message
// of a kind that never carries it (a request: strangers do not get keys,
// and give none).
func (m *contactMsg) checkPresenceKey() error {
	if len(m.PresenceKey) == 0 && m.PresenceGen == 0 {
		return nil
	}
	if m.Kind != kindAccept && m.Kind != kindUpdate {
		return fmt.Errorf("a %s carries no presence key", m.Kind)
	}
	if len(m.PresenceKey) != store.PresenceKeyLen || m.PresenceGen == 0 {
		return fmt.Errorf("presence key of %d bytes, generation %d", len(m.PresenceKey), m.PresenceGen)
	}
	return nil
}

// ---- receiving ----

// handleContactStream reads one contact message, checks it and answers.
func (svc *Service) handleContactStream(s network.Stream) {
	st := s.Conn().Stat()
	direct := !st.Limited && st.Direction == network.DirInbound
	service.ServeOne(svc.Log, s, "contact", func(from peer.ID, data []byte) error {
		return svc.receiveContactOn(from, data, direct)
	})
}

// CodeRelayOnly is the refusal of a stranger's message that came over a
// direct connection the stranger opened, to a device that publishes relay
// addresses. It is not permanent: the sender retries, through the relay.
const CodeRelayOnly = "relay-only"

// receiveContact verifies a contact message from peer and applies it.
// Errors of type *service.Refused are sent back to the peer.
func (svc *Service) receiveContact(from peer.ID, data []byte) error {
	return svc.receiveContactOn(from, data, false)
}

// receiveContactOn is receiveContact for a message that came on a direct
// connection the sender opened (direct) or not. Strangers stay at arm's
// length: a message from an account that is not an accepted contact is
// taken only through a circuit relay when this device publishes relay
// addresses (or Options.StrangersRelayOnly), so that no stranger makes a
// direct connection to it by sending one. The answer of an account this
// device sent a request to is taken on any connection.
func (svc *Service) receiveContactOn(from peer.ID, data []byte, direct bool) error {
	m, err := svc.verifyContact(from, data)
	var r *service.Refused
	if errors.As(err, &r) {
		return r
	}
	if err != nil {
		return &service.Refused{Code: "invalid", Reason: err.Error()}
	}
	if direct && (svc.o.StrangersRelayOnly || svc.pres.RelayPublished()) {
		// An account we sent a request to is expected to answer, and may
		// do so on a connection it already holds for other reasons (a
		// DHT server's connection to a client): that reveals nothing new.
		if _, state, err := svc.current(m.From); err != nil || (state != StateAccepted && state != StateRequestSent) {
			return &service.Refused{Code: CodeRelayOnly, Reason: "messages from accounts that are not contacts are taken through a circuit relay only"}
		}
	}
	return svc.applyContact(m)
}

// verifyContact checks signature, certificate chain, sender, recipient and
// time of a contact message.
func (svc *Service) verifyContact(from peer.ID, data []byte) (*contactMsg, error) {
	env, err := pcrypto.OpenEnvelope(data, contactContext, service.MaxMessage)
	if err != nil {
		return nil, err
	}
	var m contactMsg
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed payload: %v", err)
	}
	if m.V != 1 {
		return nil, fmt.Errorf("unsupported version %d", m.V)
	}
	switch m.Kind {
	case kindRequest, kindAccept, kindDecline, kindRemove, kindUpdate:
	default:
		return nil, fmt.Errorf("unknown kind %q", m.Kind)
	}
	if err := checkLengths(m.Name, m.Message); err != nil {
		return nil, err
	}
	if err := m.checkPresenceKey(); err != nil {
		return nil, err
	}
	ac, err := pcrypto.ParseAccountCert(m.AccountCert)
	if err != nil {
		return nil, err
	}
	dc, err := pcrypto.ParseDeviceCert(m.DeviceCert)
	if err != nil {
		return nil, err
	}
	fromAcct := m.From
	now := svc.Now()
	// The revocations pinned for the account count first: they survive
	// restarts and evictions from the record cache, and cost no lookup.
	if svc.pres.PinRevokes(fromAcct, dc.Serial()) {
		return nil, fmt.Errorf("crypto.VerifyDevice: %w (pinned revocation list)", pcrypto.ErrRevoked)
	}
	crl, err := svc.senderCRL(fromAcct, m.Kind, now)
	if err != nil {
		return nil, err
	}
	if err := pcrypto.VerifyDevice(fromAcct, ac, dc, crl, now); err != nil {
		return nil, err
	}
	if pub, ok := dc.Cert.PublicKey.(ed25519.PublicKey); !ok || !bytes.Equal(env.Signer, pub) {
		return nil, errors.New("signed by a key other than the sending device's")
	}
	if peer.ID(dc.Device) != from {
		return nil, errors.New("sent by a peer other than the device that signed it")
	}
	if m.To != svc.ID.AccountCert.ID {
		return nil, errors.New("addressed to another account")
	}
	if d := now.Sub(m.Time); d > service.ClockSkew || d < -service.ClockSkew {
		return nil, fmt.Errorf("message time %s is more than %v from ours: check the clocks", m.Time.UTC().Format(time.RFC3339), service.ClockSkew)
	}
	return &m, nil
}

// crlAnyAge is the cache age limit for a sender's CRL: any age, as long as
// the record itself has not expired. A CRL only grows, so an old one is
// never less safe than none; a fresher one is taken whenever a lookup or a
// push brings it.
const crlAnyAge = time.Duration(math.MaxInt64)

// senderCRL returns the CRL to check the sender's device against: the one
// of the newest record this device holds for the account, whatever its
// age. A message that can change an existing relationship (anything but a
// request) is not taken on a certificate chain alone: without a record the
// account is looked up first (bounded by the lookup timeout; a lookup that
// fails is a "busy" refusal the sender retries). A stranger's request, and
// a message the contact's state refuses or ignores anyway, cost no lookup.
func (svc *Service) senderCRL(acct pcrypto.AccountID, kind string, now time.Time) (*pcrypto.CRL, error) {
	if rec := svc.pres.CachedAccount(acct, now, crlAnyAge); rec != nil {
		return rec.CRL, nil
	}
	if kind == kindRequest {
		return nil, nil
	}
	if t, err := svc.peek(acct, msgInputs[kind]); err != nil || t.Outcome != Move {
		return nil, nil // refused or ignored whatever the CRL says: no lookup
	}
	if _, state, err := svc.current(acct); err == nil && state == StateRequestReceived {
		// Only the sender's own pending request changes (withdrawn):
		// nothing a revoked device could gain, and a stranger must not
		// be able to make us look accounts up at will.
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), svc.pres.LookupTimeout())
	defer cancel()
	rec, err := svc.pres.ResolveAccount(ctx, acct)
	if err != nil {
		return nil, &service.Refused{Code: "busy", Reason: "cannot check the sender's revocation list yet: " + err.Error()}
	}
	return rec.CRL, nil
}

// applyContact updates the contact list for a verified message, through
// the transition table.
func (svc *Service) applyContact(m *contactMsg) error {
	in, ok := msgInputs[m.Kind]
	if !ok {
		return &service.Refused{Code: "invalid", Reason: fmt.Sprintf("unknown kind %q", m.Kind)}
	}
	if in == MsgUpdate {
		// Only a contact's record is taken (and only when it verifies):
		// a stranger's pushes would fill the record cache.
		if t, err := svc.peek(m.From, in); err != nil || t.Outcome != Move {
			return err
		}
		if len(m.Record) > 0 {
			if err := svc.applyRecordUpdate(m); err != nil {
				return err
			}
		}
		return svc.takeContactKey(m.From, m.presenceKey())
	}
	var pk store.PresenceKey
	if in == MsgAccept {
		pk = m.presenceKey()
	}
	_, err := svc.apply(m.From, in, m.Name, m.Message, m.Time, pk)
	return err
}

// msgInputs maps a message kind to its input of the transition table.
var msgInputs = map[string]Input{
	kindRequest: MsgRequest,
	kindAccept:  MsgAccept,
	kindDecline: MsgDecline,
	kindRemove:  MsgRemove,
	kindUpdate:  MsgUpdate,
}

// ---- sending ----

// signContact builds a signed contact message to account to.
func (svc *Service) signContact(kind string, to pcrypto.AccountID, name, message string) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	m := contactMsg{
		V: 1, Kind: kind, From: svc.ID.AccountCert.ID, To: to,
		AccountCert: svc.ID.AccountCert.Raw(), DeviceCert: svc.ID.DeviceCert.Raw(),
		Name: name, Message: message, Time: svc.Now().UTC(), Nonce: hex.EncodeToString(nonce),
	}
	svc.addPresenceKey(&m)
	payload, err := json.Marshal(m)
	clear(m.PresenceKey)
	if err != nil {
		return nil, err
	}
	k := svc.ID.DeviceKey.Ed25519()
	defer clear(k)
	return pcrypto.SignEnvelope(k, contactContext, payload)
}

// sendContact delivers one message to one connected device and reads its
// reply.
func (svc *Service) sendContact(ctx context.Context, p peer.ID, msg []byte) error {
	return service.Request(ctx, svc.Host, p, ContactProtocol, "contact", msg)
}

// outboxLoop delivers pending contact messages: at start, when woken, and
// every RetryInterval.
func (svc *Service) outboxLoop(ctx context.Context) {
	t := time.NewTicker(svc.o.RetryInterval)
	defer t.Stop()
	for {
		svc.deliverAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-svc.outboxKick:
		}
	}
}

// deliverAll tries every pending message once, concurrently.
func (svc *Service) deliverAll(ctx context.Context) {
	items, err := svc.Store.Outbox()
	if err != nil {
		svc.Log.Error("reading outbox", "err", err)
		return
	}
	done := make(chan struct{}, len(items))
	for _, it := range items {
		go func() {
			defer func() { done <- struct{}{} }()
			svc.deliver(ctx, it)
		}()
	}
	for range items {
		<-done
	}
}

// deliver sends one pending message to every online device of its account.
// One acknowledgement is enough: the other devices of that account learn of
// it from their own devices' sync.
func (svc *Service) deliver(ctx context.Context, it store.OutboxItem) {
	to := it.To
	msg, err := svc.signContact(it.Kind, to, it.Name, it.Message)
	if err != nil {
		svc.Log.Error("signing contact message", "err", err)
		return
	}
	// Until the account is a contact, talk to it through the relay only
	// (docs/threat-model.md, "Strangers").
	var results []presence.DeviceResult
	if c, ok, cerr := svc.contact(to); cerr == nil && ok && c.State == store.Accepted && it.Kind != kindAccept {
		_, results, err = svc.pres.ReachAccount(ctx, to)
	} else {
		_, results, err = svc.pres.ReachAccountRelayed(ctx, to)
	}
	if !svc.stillQueued(it) {
		return // superseded while we looked the account up
	}
	var lastErr error = err
	delivered := false
	for _, r := range results {
		if !r.Connected || r.Cert.Device == svc.ID.DeviceCert.Device {
			if r.Err != nil {
				lastErr = r.Err
			}
			continue
		}
		err := svc.sendContact(ctx, peer.ID(r.Cert.Device), msg)
		var ref *service.Refused
		switch {
		case err == nil:
			delivered = true
		case errors.As(err, &ref) && ref.Permanent():
			svc.Log.Warn("contact message refused", "to", to, "kind", it.Kind, "reason", ref.Reason)
			_ = svc.Store.DeleteOutbox(it.To, it.ID)
			svc.Events.Publish(apitype.Event{Type: apitype.EventContactRefused, Time: svc.Now(), Account: to.String(), Message: ref.Error()})
			return
		default:
			lastErr = err
		}
	}
	if delivered {
		if err := svc.Store.DeleteOutbox(it.To, it.ID); err != nil {
			svc.Log.Error("outbox", "err", err)
		}
		svc.Log.Info("contact message delivered", "to", to, "kind", it.Kind)
		svc.Events.Publish(apitype.Event{Type: apitype.EventContactDelivered, Time: svc.Now(), Account: to.String(), Message: it.Kind})
		return
	}
	if ctx.Err() != nil {
		return
	}
	if lastErr == nil {
		lastErr = errors.New("no device of the account is online")
	}
	if err := svc.Store.RecordOutboxAttempt(it.To, it.ID, lastErr.Error()); err != nil {
		svc.Log.Error("outbox", "err", err)
	}
	svc.Log.Debug("contact message not delivered yet", "to", to, "attempts", it.Attempts+1, "err", lastErr)
}

// stillQueued reports whether it is still the pending message to its
// account (a contact change may have replaced or dropped it).
func (svc *Service) stillQueued(it store.OutboxItem) bool {
	items, err := svc.Store.Outbox()
	if err != nil {
		return true // let the send decide
	}
	for _, x := range items {
		if x.To == it.To {
			return x.ID == it.ID
		}
	}
	return false
}

// PushRecord sends this account's signed record rec to the online devices
// of contact account to (an "update" message), so that its revocations
// apply there at once. One acknowledgement is enough.
func (svc *Service) PushRecord(ctx context.Context, acct pcrypto.AccountID, rec []byte) error {
	msg, err := svc.signContactMsg(contactMsg{Kind: kindUpdate, To: acct, Record: rec})
	if err != nil {
		return err
	}
	_, results, err := svc.pres.ReachAccount(ctx, acct)
	if err != nil {
		return err
	}
	lastErr := errors.New("no device of the account is online")
	for _, r := range results {
		if !r.Connected || r.Cert.Device == svc.ID.DeviceCert.Device {
			continue
		}
		if err := svc.sendContact(ctx, peer.ID(r.Cert.Device), msg); err != nil {
			lastErr = err
			continue
		}
		return nil
	}
	return lastErr
}

// applyRecordUpdate takes an account record a contact pushed: once it
// verifies (signed by the contact's account, valid now) it replaces the
// cached record, so the contact's revocations apply to calls at once.
func (svc *Service) applyRecordUpdate(m *contactMsg) error {
	acct := m.From
	now := svc.Now()
	rec, err := records.ParseAccount(records.AccountKey(acct), m.Record, now)
	if err != nil {
		return &service.Refused{Code: "invalid", Reason: "account record: " + err.Error()}
	}
	if err := svc.pres.UpdateAccount(acct, rec, now); err != nil {
		if errors.Is(err, store.ErrRollback) {
			return &service.Refused{Code: "invalid", Reason: "account record: " + err.Error()}
		}
		return err
	}
	svc.Log.Info("contact pushed its account record", "account", acct, "devices", len(rec.Devices), "seq", rec.Seq)
	return nil
}

// signContactMsg fills in the sender fields of a contact message of any
// kind and signs it with the device key.
func (svc *Service) signContactMsg(m contactMsg) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	m.V, m.From = 1, svc.ID.AccountCert.ID
	m.AccountCert, m.DeviceCert = svc.ID.AccountCert.Raw(), svc.ID.DeviceCert.Raw()
	m.Time, m.Nonce = svc.Now().UTC(), hex.EncodeToString(nonce)
	svc.addPresenceKey(&m)
	payload, err := json.Marshal(m)
	clear(m.PresenceKey)
	if err != nil {
		return nil, err
	}
	k := svc.ID.DeviceKey.Ed25519()
	defer clear(k)
	return pcrypto.SignEnvelope(k, contactContext, payload)
}

// addPresenceKey puts this account's current presence key into an accept
// or an update: read when the message is signed (delivered), so a message
// queued before a rotation carries the newest key.
func (svc *Service) addPresenceKey(m *contactMsg) {
	if m.Kind != kindAccept && m.Kind != kindUpdate {
		return
	}
	k := svc.pres.PresenceKey()
	if k.IsZero() {
		return
	}
	m.PresenceKey, m.PresenceGen = append([]byte(nil), k.Key[:]...), k.Gen
}

// takeContactKey keeps the presence key an accepted contact sent in an
// update (the store keeps the newest by generation) and has the account's
// other devices learn it by sync. The caller checked that the sender is an
// accepted contact.
func (svc *Service) takeContactKey(id pcrypto.AccountID, k store.PresenceKey) error {
	if k.IsZero() {
		return nil
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	c, state, err := svc.current(id)
	if err != nil {
		return err
	}
	if state != StateAccepted {
		return nil // changed since the check: not a contact's key any more
	}
	if !k.Newer(c.PresenceKey) {
		return nil
	}
	c.PresenceKey = k
	if err := svc.Store.PutContact(c); err != nil {
		return err
	}
	svc.Log.Info("contact sent its presence key", "account", id, "generation", k.Gen)
	svc.changed()
	return nil
}

// rotateLocked draws a new presence key for the account (after a removal
// or a block) and queues an update carrying it to every accepted contact
// that has no message queued (a queued accept or update carries the key
// current when it is delivered). The outbox survives restarts. The caller
// holds svc.mu.
func (svc *Service) rotateLocked() error {
	if _, err := svc.pres.RotatePresenceKey(); err != nil {
		return err
	}
	return svc.sendKeyLocked()
}

// RotatePresenceKey rotates the account's presence key and queues it to
// every accepted contact (rotateLocked): what revoking a device does, since
// the revoked device holds the key.
func (svc *Service) RotatePresenceKey() error {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.rotateLocked()
}

// sendKeyLocked queues an update (which carries the presence key) to every
// accepted contact that has no message queued. The caller holds svc.mu.
func (svc *Service) sendKeyLocked() error {
	cs, err := svc.Store.Contacts()
	if err != nil {
		return err
	}
	pending, err := svc.pendingSet()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.State != store.Accepted || pending[c.AccountID] {
			continue
		}
		if err := svc.Store.PutOutbox(store.OutboxItem{To: c.AccountID, Kind: kindUpdate}); err != nil {
			return err
		}
	}
	svc.changed()
	return nil
}
