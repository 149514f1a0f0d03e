package callproto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/crypto"
)

// Signing contexts of the three message types (Ed25519ctx, see
// crypto.SignEnvelope). A message signed under one never parses as another.
const (
	OfferContext   = "parley/call-offer/v1"
	AnswerContext  = "parley/call-answer/v1"
	ControlContext = "parley/call-control/v1"
)

// Bounds of this version of the protocol.
const (
	// TimeWindow is how far a message's timestamp may be from the
	// receiver's clock, either way.
	TimeWindow = 30 * time.Second
	// MaxMessage bounds a whole signed message (envelope and payload), in
	// bytes.
	MaxMessage = 16 << 10
	// MaxCertSize bounds each certificate (DER) carried in an offer or
	// answer.
	MaxCertSize = 4096
	// MaxMedia bounds the media descriptions of an offer or answer.
	MaxMedia = 8
	// MaxCodecLen bounds MediaDesc.Codec, in bytes.
	MaxCodecLen = 32
	// MaxICELen bounds ICEUfrag and ICEPwd (RFC 8445 §5.3).
	MaxICELen = 256
	// MaxReasonLen bounds Control.Reason, in bytes.
	MaxReasonLen = 256
	// MaxCandidateLen bounds Control.Candidate, in bytes.
	MaxCandidateLen = 1024
	// X25519Size is the size of an X25519 public key.
	X25519Size = 32
)

// CallID names one call. The caller picks it at random; every message of the
// call carries it.
type CallID [16]byte

// String returns the ID in hex.
func (id CallID) String() string { return fmt.Sprintf("%x", id[:]) }

// IsZero reports whether id is all zeros (not set).
func (id CallID) IsZero() bool { return id == CallID{} }

// Media kinds.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// MediaDesc describes one RTP stream a side will send, and is ready to
// receive in the same form.
type MediaDesc struct {
	// Kind is KindAudio or KindVideo.
	Kind string
	// Codec is the RTP encoding name ("opus", "PCMU", "VP8"): 1..MaxCodecLen
	// characters out of letters, digits, '.', '_' and '-'.
	Codec string
	// ClockRate is the RTP clock rate in Hz, 1..1000000.
	ClockRate uint32
	// Channels is the number of audio channels, 0..8 (0 for video).
	Channels uint16
	// PayloadType is the RTP payload type, 0..127.
	PayloadType uint8
	// SSRC is the RTP synchronisation source; unique within a message.
	SSRC uint32
}

// Offer is the caller's first message: who calls whom, the caller device's
// certificate chain and its key shares, ICE credentials and media.
type Offer struct {
	CallID CallID
	// Time is when the offer was made; it must be within TimeWindow of the
	// receiver's clock. It travels with millisecond precision.
	Time time.Time
	// From is the caller's account, To the callee's.
	From, To crypto.AccountID
	// AccountCert and DeviceCert are the caller's certificate chain (DER).
	// The offer must be signed by DeviceCert's key.
	AccountCert, DeviceCert []byte
	// X25519 is the caller's ephemeral X25519 public key (32 bytes).
	X25519 []byte
	// MLKEMEncapKey is the caller's ephemeral ML-KEM-768 encapsulation key
	// (1184 bytes).
	MLKEMEncapKey []byte
	// SASCommit commits the caller to the nonce it reveals in the "confirm"
	// control message; it keeps the callee from choosing the SAS. See
	// CallerKeys.SASCommit.
	SASCommit [32]byte
	// ICEUfrag and ICEPwd are the caller's ICE credentials.
	ICEUfrag, ICEPwd string
	// Media lists 1..MaxMedia streams the caller sends.
	Media []MediaDesc
	// Conference is the group call this pairwise call belongs to; zero
	// for a one-to-one call.
	Conference CallID
}

// Answer is the callee device's reply that accepts the call. It binds the
// exact offer by its hash, so its signature covers the whole transcript.
type Answer struct {
	CallID CallID
	Time   time.Time
	// OfferHash is SHA-256 of the exact signed offer bytes (see OfferHash).
	OfferHash [32]byte
	// AccountCert and DeviceCert are the answering device's chain (DER).
	AccountCert, DeviceCert []byte
	// X25519 is the callee's ephemeral X25519 public key (32 bytes).
	X25519 []byte
	// MLKEMCiphertext is the ML-KEM-768 ciphertext to the offer's
	// encapsulation key (1088 bytes).
	MLKEMCiphertext []byte
	// ICEUfrag and ICEPwd are the callee's ICE credentials.
	ICEUfrag, ICEPwd string
	// Media lists 1..MaxMedia streams the callee sends.
	Media []MediaDesc
}

// ControlType is the type of a Control message. Its text is what logs and
// errors show; on the wire each type is a one-byte code (codec.go).
type ControlType string

// Control message types.
const (
	// ControlRinging: callee → caller, the device is ringing.
	ControlRinging ControlType = "ringing"
	// ControlDecline: callee → caller, the user declined.
	ControlDecline ControlType = "decline"
	// ControlBusy: callee → caller, the device is in another call.
	ControlBusy ControlType = "busy"
	// ControlCancel: caller → callee, the caller gave up before an answer.
	ControlCancel ControlType = "cancel"
	// ControlHangup: either side ends an established call.
	ControlHangup ControlType = "hangup"
	// ControlAnsweredElsewhere: caller → callee device, another device of
	// the callee's account answered first; stop ringing.
	ControlAnsweredElsewhere ControlType = "answered-elsewhere"
	// ControlCandidate: either side, one trickled ICE candidate.
	ControlCandidate ControlType = "candidate"
	// ControlEndOfCandidates: either side, gathering is complete.
	ControlEndOfCandidates ControlType = "end-of-candidates"
	// ControlError: either side, the call failed; Code says why.
	ControlError ControlType = "error"
	// ControlConfirm: caller → the answering device that won: the call is
	// yours; SASNonce opens the offer's SASCommit (see Keys.ConfirmSAS).
	ControlConfirm ControlType = "confirm"
	// ControlICERestart: either side of an established call, its network
	// changed or its media went silent: it restarted its ICE agent with
	// the new credentials ICEUfrag and ICEPwd and asks the peer to do the
	// same (RFC 8445 §2.4). The SRTP keys stay. Generation numbers the
	// sender's restarts of the call from 1, strictly increasing: a
	// receiver drops one not above the last it saw.
	ControlICERestart ControlType = "ice-restart"
	// ControlICERestartReply: the answer to a ControlICERestart: the
	// replier's new ICEUfrag and ICEPwd, and the Generation of the
	// request it answers.
	ControlICERestartReply ControlType = "ice-restart-reply"
)

// IsICERestart reports whether t is ControlICERestart or
// ControlICERestartReply, the types that carry ICE credentials.
func (t ControlType) IsICERestart() bool {
	return t == ControlICERestart || t == ControlICERestartReply
}

// Control is a small signed message on the signalling stream of a call. It
// is signed by the same device that signed that side's offer or answer.
type Control struct {
	CallID CallID
	// Type is one of the Control* constants.
	Type ControlType
	// Reason is optional human-readable text: at most MaxReasonLen bytes of
	// UTF-8 without control characters.
	Reason string
	// Candidate is the ICE candidate (RFC 8839 attribute value, printable
	// ASCII, at most MaxCandidateLen bytes); set only for ControlCandidate.
	Candidate string
	// Code is the error code; set (not zero) only for ControlError.
	Code Code
	// SASNonce is the caller's SAS nonce; set (not zero) only for
	// ControlConfirm.
	SASNonce [32]byte
	// ICEUfrag and ICEPwd are the sender's new ICE credentials, and
	// Generation (at least 1) the restart they belong to; set exactly for
	// ControlICERestart and ControlICERestartReply.
	ICEUfrag, ICEPwd string
	Generation       uint32
	Time             time.Time
}

// ParseOption adjusts how ParseOffer and ParseAnswer check a message.
type ParseOption func(*parseConfig)

type parseConfig struct {
	crl       func(crypto.AccountID) *crypto.CRL
	recipient *crypto.AccountID
}

// WithCRL checks the signing device against crl: a device it lists is
// refused (errors.Is(err, crypto.ErrRevoked)). crl must be the CRL of the
// account that signed the message; another account's CRL makes every
// message fail, which errs on the safe side.
func WithCRL(crl *crypto.CRL) ParseOption {
	return func(c *parseConfig) {
		if crl != nil {
			c.crl = func(crypto.AccountID) *crypto.CRL { return crl }
		}
	}
}

// WithCRLLookup checks the signing device against the CRL that lookup
// returns for the message's account (nil: no CRL known, revocation is not
// checked). Use it when the account is not known before parsing, as for
// offers.
func WithCRLLookup(lookup func(crypto.AccountID) *crypto.CRL) ParseOption {
	return func(c *parseConfig) { c.crl = lookup }
}

// WithRecipient makes ParseOffer refuse an offer whose To is not account
// (ErrWrongRecipient). A callee should always pass its own account, so an
// offer for someone else cannot be replayed to it.
func WithRecipient(account crypto.AccountID) ParseOption {
	return func(c *parseConfig) { c.recipient = &account }
}

func newParseConfig(opts []ParseOption) *parseConfig {
	c := &parseConfig{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

func (c *parseConfig) crlFor(id crypto.AccountID) *crypto.CRL {
	if c.crl == nil {
		return nil
	}
	return c.crl(id)
}

// OfferHash returns SHA-256 of a signed offer, the value Answer.OfferHash
// must hold.
func OfferHash(signedOffer []byte) [32]byte { return sha256.Sum256(signedOffer) }

// SignOffer checks o and signs it with the caller's device key, returning
// the envelope bytes to send. o.DeviceCert must be dk's certificate, issued
// by o.AccountCert, which must be o.From's, and valid at o.Time; a message
// the receiver would refuse is not signed (ErrInvalidMessage).
func SignOffer(dk *crypto.DeviceKey, o *Offer) ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("callproto.SignOffer: %w: %w", ErrInvalidMessage, err)
	}
	if err := checkOwnChain(dk, o.From, o.AccountCert, o.DeviceCert, o.Time); err != nil {
		return nil, fmt.Errorf("callproto.SignOffer: %w", err)
	}
	data, err := sign(dk, OfferContext, encodeOffer(o))
	if err != nil {
		return nil, fmt.Errorf("callproto.SignOffer: %w", err)
	}
	return data, nil
}

// ParseOffer opens a signed offer and checks, in order: size (ErrTooLarge),
// envelope and signing context (ErrMalformed, ErrWrongMessageType), signature
// (ErrBadSignature), payload (ErrMalformed), recipient when WithRecipient is
// given (ErrWrongRecipient), timestamp within TimeWindow of now (ErrStale,
// ErrFuture), that the envelope signer is the key of the offer's device
// certificate (ErrWrongSigner), and the chain from o.From to that device at
// now, including the CRL when one is given with WithCRL or WithCRLLookup
// (ErrUntrustedDevice). It returns the offer and the verified device
// certificate.
//
// ParseOffer does not detect replays: pass the CallID to a ReplayCache with
// the same now, after ParseOffer succeeds.
func ParseOffer(data []byte, now time.Time, opts ...ParseOption) (*Offer, *crypto.DeviceCert, error) {
	o, dc, err := parseOffer(data, now, newParseConfig(opts))
	if err != nil {
		return nil, nil, fmt.Errorf("callproto.ParseOffer: %w", err)
	}
	return o, dc, nil
}

func parseOffer(data []byte, now time.Time, cfg *parseConfig) (*Offer, *crypto.DeviceCert, error) {
	env, err := open(data, OfferContext)
	if err != nil {
		return nil, nil, err
	}
	o, err := decodeOffer(env.Payload)
	if err != nil {
		return nil, nil, err
	}
	if cfg.recipient != nil && o.To != *cfg.recipient {
		return nil, nil, fmt.Errorf("%w: offer is for %s", ErrWrongRecipient, o.To.Short())
	}
	if err := checkTime(o.Time, now); err != nil {
		return nil, nil, err
	}
	dc, err := verifyChain(o.From, o.AccountCert, o.DeviceCert, env.Signer, cfg.crlFor(o.From), now)
	if err != nil {
		return nil, nil, err
	}
	return o, dc, nil
}

// SignAnswer checks a and signs it with the answering device's key.
// a.DeviceCert must be dk's certificate, issued by a.AccountCert and valid
// at a.Time (ErrInvalidMessage).
func SignAnswer(dk *crypto.DeviceKey, a *Answer) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("callproto.SignAnswer: %w: %w", ErrInvalidMessage, err)
	}
	ac, err := crypto.ParseAccountCert(a.AccountCert)
	if err != nil {
		return nil, fmt.Errorf("callproto.SignAnswer: %w: %w", ErrInvalidMessage, err)
	}
	if err := checkOwnChain(dk, ac.ID, a.AccountCert, a.DeviceCert, a.Time); err != nil {
		return nil, fmt.Errorf("callproto.SignAnswer: %w", err)
	}
	data, err := sign(dk, AnswerContext, encodeAnswer(a))
	if err != nil {
		return nil, fmt.Errorf("callproto.SignAnswer: %w", err)
	}
	return data, nil
}

// ParseAnswer opens a signed answer to offer (the exact signed offer bytes
// this device sent) and checks it like ParseOffer does, with the chain from
// calleeAccount, plus that its OfferHash is the hash of offer and its CallID
// the offer's (ErrOfferMismatch). It returns the answer and the verified
// device certificate of the answering device.
func ParseAnswer(data, offer []byte, calleeAccount crypto.AccountID, now time.Time, opts ...ParseOption) (*Answer, *crypto.DeviceCert, error) {
	a, dc, err := parseAnswer(data, offer, calleeAccount, now, newParseConfig(opts))
	if err != nil {
		return nil, nil, fmt.Errorf("callproto.ParseAnswer: %w", err)
	}
	return a, dc, nil
}

func parseAnswer(data, offer []byte, callee crypto.AccountID, now time.Time, cfg *parseConfig) (*Answer, *crypto.DeviceCert, error) {
	env, err := open(data, AnswerContext)
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeAnswer(env.Payload)
	if err != nil {
		return nil, nil, err
	}
	h := OfferHash(offer)
	if subtle.ConstantTimeCompare(h[:], a.OfferHash[:]) != 1 {
		return nil, nil, fmt.Errorf("%w: offer hash differs", ErrOfferMismatch)
	}
	id, err := offerCallID(offer)
	if err != nil {
		return nil, nil, fmt.Errorf("offer: %w", err)
	}
	if id != a.CallID {
		return nil, nil, fmt.Errorf("%w: call ID %s, offer's is %s", ErrOfferMismatch, a.CallID, id)
	}
	if err := checkTime(a.Time, now); err != nil {
		return nil, nil, err
	}
	dc, err := verifyChain(callee, a.AccountCert, a.DeviceCert, env.Signer, cfg.crlFor(callee), now)
	if err != nil {
		return nil, nil, err
	}
	return a, dc, nil
}

// offerCallID reads the call ID of a signed offer without verifying it: the
// offer is the caller's own, and the answer binds it by hash already.
func offerCallID(offer []byte) (CallID, error) {
	env, err := crypto.ParseEnvelope(offer, MaxMessage)
	if err != nil {
		return CallID{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Context != OfferContext {
		return CallID{}, fmt.Errorf("%w: context %q", ErrWrongMessageType, env.Context)
	}
	o, err := decodeOffer(env.Payload)
	if err != nil {
		return CallID{}, err
	}
	return o.CallID, nil
}

// SignControl checks c and signs it with the device key of this side of the
// call.
func SignControl(dk *crypto.DeviceKey, c *Control) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("callproto.SignControl: %w: %w", ErrInvalidMessage, err)
	}
	data, err := sign(dk, ControlContext, encodeControl(c))
	if err != nil {
		return nil, fmt.Errorf("callproto.SignControl: %w", err)
	}
	return data, nil
}

// ParseControl opens a signed control message and checks size, envelope,
// signature, that signerPub signed it (the device that signed the peer's
// offer or answer, or the peer device of the stream; ErrWrongSigner),
// payload and timestamp. The caller checks that CallID is the call's.
func ParseControl(data []byte, signerPub ed25519.PublicKey, now time.Time) (*Control, error) {
	c, err := parseControl(data, signerPub, now)
	if err != nil {
		return nil, fmt.Errorf("callproto.ParseControl: %w", err)
	}
	return c, nil
}

func parseControl(data []byte, signerPub ed25519.PublicKey, now time.Time) (*Control, error) {
	env, err := open(data, ControlContext)
	if err != nil {
		return nil, err
	}
	if !env.Signer.Equal(signerPub) {
		return nil, fmt.Errorf("%w: control signed by %s", ErrWrongSigner, crypto.DeviceIDFromPublicKey(env.Signer).Short())
	}
	c, err := decodeControl(env.Payload)
	if err != nil {
		return nil, err
	}
	if err := checkTime(c.Time, now); err != nil {
		return nil, err
	}
	return c, nil
}

// sign signs payload with the device key, wiping the private key copy.
func sign(dk *crypto.DeviceKey, context string, payload []byte) ([]byte, error) {
	if dk == nil {
		return nil, fmt.Errorf("%w: no device key", ErrInvalidMessage)
	}
	priv := dk.Ed25519()
	defer clear(priv)
	data, err := crypto.SignEnvelope(priv, context, payload)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), MaxMessage)
	}
	return data, nil
}

// open checks the size, context and signature of a message and maps the
// crypto package's errors to this package's sentinels.
func open(data []byte, context string) (*crypto.Envelope, error) {
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), MaxMessage)
	}
	env, err := crypto.OpenEnvelope(data, context, MaxMessage)
	switch {
	case err == nil:
		return env, nil
	case errors.Is(err, crypto.ErrWrongContext):
		return nil, fmt.Errorf("%w: %w", ErrWrongMessageType, err)
	case errors.Is(err, crypto.ErrBadSignature):
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

// checkTime refuses a timestamp more than TimeWindow away from now.
func checkTime(t, now time.Time) error {
	switch d := now.Sub(t); {
	case d > TimeWindow:
		return fmt.Errorf("%w: sent %v ago, limit %v", ErrStale, d.Round(time.Millisecond), TimeWindow)
	case d < -TimeWindow:
		return fmt.Errorf("%w: sent %v ahead of our clock, limit %v", ErrFuture, (-d).Round(time.Millisecond), TimeWindow)
	}
	return nil
}

// verifyChain checks that signer is the key of the device certificate and
// that the certificate belongs to account at now.
func verifyChain(account crypto.AccountID, acDER, dcDER []byte, signer ed25519.PublicKey, crl *crypto.CRL, now time.Time) (*crypto.DeviceCert, error) {
	ac, err := crypto.ParseAccountCert(acDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedDevice, err)
	}
	dc, err := crypto.ParseDeviceCert(dcDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedDevice, err)
	}
	if pub, ok := dc.Cert.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(signer) {
		return nil, fmt.Errorf("%w: signer is not device %s", ErrWrongSigner, dc.Device.Short())
	}
	if err := crypto.VerifyDevice(account, ac, dc, crl, now); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedDevice, err)
	}
	return dc, nil
}

// checkOwnChain is the signer-side check that the certificates belong to dk
// and account at t, so that this device never signs a message its peer
// must refuse.
func checkOwnChain(dk *crypto.DeviceKey, account crypto.AccountID, acDER, dcDER []byte, t time.Time) error {
	if dk == nil {
		return fmt.Errorf("%w: no device key", ErrInvalidMessage)
	}
	if _, err := verifyChain(account, acDER, dcDER, dk.Public(), nil, t); err != nil {
		return fmt.Errorf("%w: own certificates: %w", ErrInvalidMessage, err)
	}
	return nil
}
