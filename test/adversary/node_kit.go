package adversary

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/service"
)

// The node side of the kit: the messages a stranger can send to a device,
// built from the wire format in docs/protocol.md rather than from the
// node's own (unexported) types, as an attacker's client would.

// Protocol IDs of a device's services under attack.
const (
	ContactProtocol = "/parley/contact/1.0.0"
	CallProtocol    = "/parley/call/1.0.0"
	SyncProtocol    = "/parley/sync/1.0.0"
)

// contactContext is the signing context of contact messages.
const contactContext = "parley/contact/v1"

// ContactMsg is the payload of a contact message (docs/protocol.md,
// "Contact requests").
type ContactMsg struct {
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
	Record      []byte    `json:"record,omitempty"`
}

// ContactMessage signs a contact message of kind from d to account to, with
// the given name and message (a request's) or record (an update's).
func (d *Device) ContactMessage(kind string, to crypto.AccountID, name, message string, record []byte) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(ContactMsg{
		V: 1, Kind: kind, From: d.Account.Cert.ID.String(), To: to.String(),
		AccountCert: d.Account.Cert.Raw(), DeviceCert: d.Cert.Raw(),
		Name: name, Message: message, Time: time.Now().UTC(), Nonce: hex.EncodeToString(nonce), Record: record,
	})
	if err != nil {
		return nil, err
	}
	k := d.Key.Ed25519()
	defer clear(k)
	return crypto.SignEnvelope(k, contactContext, payload)
}

// Refusal is a device's refusal of a message: its code ("invalid",
// "unexpected", "busy", or for an offer the callproto code's name) and
// reason.
type Refusal = service.Refused

// SendContact sends one contact message to the device p and reads its
// one-line answer: nil when taken, a *Refusal when refused, another error
// when the exchange failed.
func SendContact(ctx context.Context, h host.Host, p peer.ID, msg []byte) error {
	return service.Request(ctx, h, p, ContactProtocol, "contact", msg)
}

// Offer signs a call offer from d to account to, with a fresh call ID and
// fresh keys.
func (d *Device) Offer(to crypto.AccountID) ([]byte, error) {
	ck, err := callproto.NewCallerKeys()
	if err != nil {
		return nil, err
	}
	o := &callproto.Offer{
		Time: time.Now(), From: d.Account.Cert.ID, To: to,
		AccountCert: d.Account.Cert.Raw(), DeviceCert: d.Cert.Raw(),
		ICEUfrag: "ufragufragufrag1", ICEPwd: "pwdpwdpwdpwdpwdpwdpwdpwd",
		Media: []callproto.MediaDesc{{Kind: "audio", Codec: "PCMU", ClockRate: 8000, Channels: 1, SSRC: 1}},
	}
	if _, err := rand.Read(o.CallID[:]); err != nil {
		return nil, err
	}
	ck.FillOffer(o)
	return callproto.SignOffer(d.Key, o)
}

// SendOffer opens a call stream to the device p, sends a signed offer and
// returns the first control message the device answers with (ringing,
// busy, or an error with its code).
func SendOffer(ctx context.Context, h host.Host, p peer.ID, offer []byte) (*callproto.Control, error) {
	ctx, cancel := context.WithTimeout(ctx, service.IOTimeout)
	defer cancel()
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return nil, err
	}
	raw, err := pub.Raw()
	if err != nil || pub.Type() != lcrypto.Ed25519 {
		return nil, fmt.Errorf("adversary: %s has no Ed25519 key", p)
	}
	// Over a relayed connection too, as the node's own calls go (a device
	// now publishes a circuit address from its start).
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "adversary"), p, CallProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := wire.WriteFrame(s, offer, callproto.MaxMessage); err != nil {
		_ = s.Reset()
		return nil, err
	}
	b, err := wire.ReadFrame(bufio.NewReader(s), callproto.MaxMessage)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("adversary: reading the offer's answer: %w", err)
	}
	return callproto.ParseControl(b, ed25519.PublicKey(raw), time.Now())
}

// SyncRequest is a sync message (docs/protocol.md, "Sync between
// devices") with the fields an attacker fills in.
type SyncRequest struct {
	V       int         `json:"v"`
	Account string      `json:"account"`
	Entries []SyncEntry `json:"entries,omitempty"`
	Code    string      `json:"code,omitempty"`
	Error   string      `json:"error,omitempty"`
	More    bool        `json:"more,omitempty"`
}

// SyncEntry is one replicated item of a sync message.
type SyncEntry struct {
	Key   string `json:"key"`
	T     int64  `json:"t"`
	Dev   string `json:"dev,omitempty"`
	Name  string `json:"name,omitempty"`
	State string `json:"state,omitempty"`
}

// maxSyncFrame is the largest sync frame (docs/protocol.md).
const maxSyncFrame = 4 << 20

// ContactEntries makes n sync entries, versioned by device dev, that
// would add n accepted contacts (new accounts) named name.
func ContactEntries(n int, name string, dev crypto.DeviceID) ([]SyncEntry, error) {
	out := make([]SyncEntry, 0, n)
	for range n {
		a, err := NewAccount()
		if err != nil {
			return nil, err
		}
		out = append(out, SyncEntry{Key: "contact/" + a.Cert.ID.String(), T: time.Now().UnixNano(), Dev: dev.String(), Name: name, State: "accepted"})
	}
	return out, nil
}

// ErrNoSyncAnswer means the device reset a sync stream without answering:
// it refused to read the request.
var ErrNoSyncAnswer = errors.New("adversary: sync stream reset without an answer")

// SendSync sends one sync request frame (uvarint length, JSON) to the
// device p and returns its answer (a refusal has Code set), or
// ErrNoSyncAnswer when the device reset the stream instead.
func SendSync(ctx context.Context, h host.Host, p peer.ID, req *SyncRequest) (*SyncRequest, error) {
	req.V = 1
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return SendSyncRaw(ctx, h, p, body)
}

// SendSyncRaw is SendSync with the frame's body given as bytes (of any
// size up to the 4 MiB frame limit).
func SendSyncRaw(ctx context.Context, h host.Host, p peer.ID, body []byte) (*SyncRequest, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, SyncProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	// The device may refuse before reading it all: a failed write is
	// then the answer, read below.
	_ = wire.WriteFrame(s, body, maxSyncFrame)
	_ = s.CloseWrite()
	b, err := wire.ReadFrame(bufio.NewReader(s), maxSyncFrame)
	if err != nil {
		_ = s.Reset()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, network.ErrReset) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", ErrNoSyncAnswer, err)
		}
		return nil, err
	}
	var resp SyncRequest
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("adversary: sync answer: %w", err)
	}
	return &resp, nil
}

// LightHost starts a libp2p host for a device's key that only dials
// (TCP, Noise, no resource limits): the cheapest host a flood can make
// one of per attempt.
func (d *Device) LightHost() (host.Host, error) {
	k, err := lcrypto.UnmarshalEd25519PrivateKey(d.Key.Ed25519())
	if err != nil {
		return nil, err
	}
	return libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
}

// NewStranger makes a fresh account with one device.
func NewStranger() (*Device, error) {
	a, err := NewAccount()
	if err != nil {
		return nil, err
	}
	return a.NewDevice()
}
