package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

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
	maxContactMessage = 64 << 10
	maxContactReply   = 4 << 10
	contactIOTimeout  = 10 * time.Second
	// contactClockSkew is how far a message's time may be from ours.
	contactClockSkew = 10 * time.Minute
	maxNameLen       = 128
	maxMessageLen    = 1024
)

// Kinds of contact message.
const (
	kindRequest = "request"
	kindAccept  = "accept"
	kindDecline = "decline"
	// kindUpdate carries the sender's account record, pushed to contacts
	// when its devices or revocations change (devices.go).
	kindUpdate = "update"
)

// contactMsg is the payload of a contact message's signed envelope; see
// docs/protocol.md.
type contactMsg struct {
	V           int       `json:"v"`
	Kind        string    `json:"kind"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	AccountCert []byte    `json:"account_cert"`
	DeviceCert  []byte    `json:"device_cert"`
	Name        string    `json:"name,omitempty"`
	Message     string    `json:"message,omitempty"`
	Time        time.Time `json:"time"`
	Nonce       string    `json:"nonce"`
	// Record is the sender's signed account record (kind "update").
	Record []byte `json:"record,omitempty"`
}

// contactReply is the receiver's answer.
type contactReply struct {
	OK    bool   `json:"ok"`
	Code  string `json:"code,omitempty"` // "invalid", "unexpected", "busy"
	Error string `json:"error,omitempty"`
}

// errRefused wraps a reason a peer gave for refusing a message.
type errRefused struct{ code, reason string }

func (e *errRefused) Error() string { return fmt.Sprintf("refused (%s): %s", e.code, e.reason) }

// permanent reports whether retrying the same message cannot help.
func (e *errRefused) permanent() bool { return e.code == "invalid" || e.code == "unexpected" }

// ---- receiving ----

// handleContactStream reads one contact message, checks it and answers.
func (n *Node) handleContactStream(s network.Stream) { n.serveOne(s, "contact", n.receiveContact) }

// serveOne reads one bounded signed message from s, hands it to handle and
// writes the one-line JSON reply: ok, or the refusal's code and reason.
// The contact and conference protocols share it.
func (n *Node) serveOne(s network.Stream, what string, handle func(from peer.ID, data []byte) error) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(contactIOTimeout))
	data, err := io.ReadAll(io.LimitReader(s, maxContactMessage+1))
	if err != nil {
		s.Reset()
		return
	}
	reply := contactReply{OK: true}
	if len(data) > maxContactMessage {
		reply = contactReply{Code: "invalid", Error: fmt.Sprintf("message larger than %d bytes", maxContactMessage)}
	} else if err := handle(s.Conn().RemotePeer(), data); err != nil {
		var r *errRefused
		if !errors.As(err, &r) {
			r = &errRefused{code: "busy", reason: "internal error, try again"}
			n.log.Error(what+" message not processed", "err", err)
		}
		reply = contactReply{Code: r.code, Error: r.reason}
		n.log.Info(what+" message refused", "from", s.Conn().RemotePeer(), "code", r.code, "reason", r.reason)
	}
	b, _ := json.Marshal(reply)
	_, _ = s.Write(append(b, '\n'))
}

// receiveContact verifies a contact message from peer and applies it.
// Errors of type *errRefused are sent back to the peer.
func (n *Node) receiveContact(from peer.ID, data []byte) error {
	m, err := n.verifyContact(from, data)
	if err != nil {
		return &errRefused{code: "invalid", reason: err.Error()}
	}
	return n.applyContact(m)
}

// verifyContact checks signature, certificate chain, sender, recipient and
// time of a contact message.
func (n *Node) verifyContact(from peer.ID, data []byte) (*contactMsg, error) {
	env, err := pcrypto.OpenEnvelope(data, contactContext, maxContactMessage)
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
	case kindRequest, kindAccept, kindDecline, kindUpdate:
	default:
		return nil, fmt.Errorf("unknown kind %q", m.Kind)
	}
	if len(m.Name) > maxNameLen || len(m.Message) > maxMessageLen {
		return nil, fmt.Errorf("name or message too long")
	}
	ac, err := pcrypto.ParseAccountCert(m.AccountCert)
	if err != nil {
		return nil, err
	}
	dc, err := pcrypto.ParseDeviceCert(m.DeviceCert)
	if err != nil {
		return nil, err
	}
	fromAcct, err := pcrypto.ParseAccountID(m.From)
	if err != nil {
		return nil, err
	}
	now := n.o.Now()
	var crl *pcrypto.CRL
	if rec := n.cache.get(fromAcct, now, n.o.AccountCacheTTL); rec != nil {
		crl = rec.CRL
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
	if m.To != n.id.AccountCert.ID.String() {
		return nil, errors.New("addressed to another account")
	}
	if d := now.Sub(m.Time); d > contactClockSkew || d < -contactClockSkew {
		return nil, fmt.Errorf("message time %s is more than %v from ours: check the clocks", m.Time.UTC().Format(time.RFC3339), contactClockSkew)
	}
	return &m, nil
}

// applyContact updates the contact list for a verified message.
func (n *Node) applyContact(m *contactMsg) error {
	cur, err := n.st.Contact(m.From)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ev := apitype.Event{Time: n.o.Now(), Account: m.From, Message: m.Message}
	switch m.Kind {
	case kindUpdate:
		return n.applyRecordUpdate(m)
	case kindRequest:
		switch {
		case exists && cur.State == store.Blocked:
			return nil // dropped without a trace; the sender is not told
		case exists && (cur.State == store.Accepted || cur.State == store.RequestSent):
			// They asked us while we asked them (or they lost our
			// acceptance): both sides want it, so it is accepted.
			cur.State = store.Accepted
			if err := n.st.PutContact(cur); err != nil {
				return err
			}
			if err := n.enqueue(m.From, kindAccept, "", ""); err != nil {
				return err
			}
			ev.Type = apitype.EventContactAccepted
		default:
			c := store.Contact{AccountID: m.From, Name: m.Name, State: store.RequestReceived, Message: m.Message}
			if exists && cur.Name != "" {
				c.Name = cur.Name
			}
			if err := n.st.PutContact(c); err != nil {
				return err
			}
			ev.Type = apitype.EventContactRequest
		}
	case kindAccept:
		if !exists || cur.State == store.Blocked {
			return &errRefused{code: "unexpected", reason: "no contact request pending for this account"}
		}
		if cur.State == store.Accepted {
			return nil
		}
		cur.State = store.Accepted
		if err := n.st.PutContact(cur); err != nil {
			return err
		}
		ev.Type = apitype.EventContactAccepted
	case kindDecline:
		if !exists || cur.State != store.RequestSent {
			return nil
		}
		if err := n.st.DeleteContact(m.From); err != nil {
			return err
		}
		ev.Type = apitype.EventContactDeclined
	}
	n.ev.publish(ev)
	return nil
}

// ---- sending ----

// signContact builds a signed contact message to account to.
func (n *Node) signContact(kind, to, name, message string) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(contactMsg{
		V: 1, Kind: kind, From: n.id.AccountCert.ID.String(), To: to,
		AccountCert: n.id.AccountCert.Raw(), DeviceCert: n.id.DeviceCert.Raw(),
		Name: name, Message: message, Time: n.o.Now().UTC(), Nonce: hex.EncodeToString(nonce),
	})
	if err != nil {
		return nil, err
	}
	k := n.id.DeviceKey.Ed25519()
	defer clear(k)
	return pcrypto.SignEnvelope(k, contactContext, payload)
}

// sendContact delivers one message to one connected device and reads its
// reply.
func (n *Node) sendContact(ctx context.Context, p peer.ID, msg []byte) error {
	return n.request(ctx, p, ContactProtocol, "contact", msg)
}

// request sends one signed message on a new stream of proto to p (through
// a relay if that is the only way) and reads the one-line JSON reply.
func (n *Node) request(ctx context.Context, p peer.ID, proto protocol.ID, tag string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, contactIOTimeout)
	defer cancel()
	s, err := n.h.NewStream(network.WithAllowLimitedConn(ctx, tag), p, proto)
	if err != nil {
		return err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(msg); err != nil {
		s.Reset()
		return err
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(s, maxContactReply)).ReadBytes('\n')
	if err != nil {
		s.Reset()
		return fmt.Errorf("reading reply: %w", err)
	}
	var r contactReply
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("malformed reply: %w", err)
	}
	if !r.OK {
		return &errRefused{code: r.Code, reason: r.Error}
	}
	return nil
}

// enqueue stores a message for delivery (replacing an older one to the same
// account) and wakes the delivery loop.
func (n *Node) enqueue(to, kind, name, message string) error {
	err := n.st.PutOutbox(store.OutboxItem{To: to, Kind: kind, Name: name, Message: message})
	if err != nil {
		return err
	}
	kick(n.outboxKick)
	return nil
}

// outboxLoop delivers pending contact messages: at start, when woken, and
// every RetryInterval.
func (n *Node) outboxLoop(ctx context.Context) {
	t := time.NewTicker(n.o.RetryInterval)
	defer t.Stop()
	for {
		n.deliverAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.outboxKick:
		}
	}
}

// deliverAll tries every pending message once, concurrently.
func (n *Node) deliverAll(ctx context.Context) {
	items, err := n.st.Outbox()
	if err != nil {
		n.log.Error("reading outbox", "err", err)
		return
	}
	done := make(chan struct{}, len(items))
	for _, it := range items {
		go func() {
			defer func() { done <- struct{}{} }()
			n.deliver(ctx, it)
		}()
	}
	for range items {
		<-done
	}
}

// deliver sends one pending message to every online device of its account.
// One acknowledgement is enough: the other devices of that account learn of
// it from their own devices' sync.
func (n *Node) deliver(ctx context.Context, it store.OutboxItem) {
	to, err := pcrypto.ParseAccountID(it.To)
	if err != nil {
		_ = n.st.DeleteOutbox(it.To, it.ID)
		return
	}
	msg, err := n.signContact(it.Kind, it.To, it.Name, it.Message)
	if err != nil {
		n.log.Error("signing contact message", "err", err)
		return
	}
	_, results, err := n.reachAccount(ctx, to)
	var lastErr error = err
	delivered := false
	for _, r := range results {
		if !r.connected || r.cert.Device == n.id.DeviceCert.Device {
			if r.err != nil {
				lastErr = r.err
			}
			continue
		}
		err := n.sendContact(ctx, peer.ID(r.cert.Device), msg)
		var ref *errRefused
		switch {
		case err == nil:
			delivered = true
		case errors.As(err, &ref) && ref.permanent():
			n.log.Warn("contact message refused", "to", to, "kind", it.Kind, "reason", ref.reason)
			_ = n.st.DeleteOutbox(it.To, it.ID)
			n.ev.publish(apitype.Event{Type: apitype.EventContactRefused, Time: n.o.Now(), Account: it.To, Message: ref.Error()})
			return
		default:
			lastErr = err
		}
	}
	if delivered {
		if err := n.st.DeleteOutbox(it.To, it.ID); err != nil {
			n.log.Error("outbox", "err", err)
		}
		n.log.Info("contact message delivered", "to", to, "kind", it.Kind)
		n.ev.publish(apitype.Event{Type: apitype.EventContactDelivered, Time: n.o.Now(), Account: it.To, Message: it.Kind})
		return
	}
	if ctx.Err() != nil {
		return
	}
	if lastErr == nil {
		lastErr = errors.New("no device of the account is online")
	}
	if err := n.st.RecordOutboxAttempt(it.To, it.ID, lastErr.Error()); err != nil {
		n.log.Error("outbox", "err", err)
	}
	n.log.Debug("contact message not delivered yet", "to", to, "attempts", it.Attempts+1, "err", lastErr)
}
