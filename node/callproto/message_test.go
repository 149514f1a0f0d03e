package callproto

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
)

func TestOfferRoundTrip(t *testing.T) {
	p := signedPair(t)
	got, dc, err := ParseOffer(p.offer, testNow.Add(time.Second), WithRecipient(p.calleeB.id()), WithCRL(p.callerA.crl))
	if err != nil {
		t.Fatal(err)
	}
	if dc.Device != p.callerA.dev.key.ID() {
		t.Errorf("device = %s, want %s", dc.Device, p.callerA.dev.key.ID())
	}
	if !reflect.DeepEqual(got, p.o) {
		t.Errorf("parsed offer differs:\n got %+v\nwant %+v", got, p.o)
	}
	if len(p.offer) > MaxMessage {
		t.Errorf("offer is %d bytes > MaxMessage", len(p.offer))
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	p := signedPair(t)
	got, dc, err := ParseAnswer(p.answer, p.offer, p.calleeB.id(), testNow.Add(3*time.Second), WithCRL(p.calleeB.crl))
	if err != nil {
		t.Fatal(err)
	}
	if dc.Device != p.calleeB.dev.key.ID() {
		t.Errorf("device = %s, want %s", dc.Device, p.calleeB.dev.key.ID())
	}
	if !reflect.DeepEqual(got, p.a) {
		t.Errorf("parsed answer differs:\n got %+v\nwant %+v", got, p.a)
	}
}

func TestControlRoundTrip(t *testing.T) {
	a, _ := fixtures(t)
	id := CallID{9: 1}
	tests := []struct {
		name string
		c    Control
	}{
		{"ringing", Control{Type: ControlRinging}},
		{"decline with reason", Control{Type: ControlDecline, Reason: "in a meeting – later ☺"}},
		{"busy", Control{Type: ControlBusy}},
		{"cancel", Control{Type: ControlCancel}},
		{"hangup", Control{Type: ControlHangup, Reason: "bye"}},
		{"answered elsewhere", Control{Type: ControlAnsweredElsewhere}},
		{"candidate", Control{Type: ControlCandidate, Candidate: "candidate:1 1 udp 2130706431 192.0.2.1 54321 typ host"}},
		{"end of candidates", Control{Type: ControlEndOfCandidates}},
		{"error", Control{Type: ControlError, Code: CodeStale, Reason: "clock"}},
		{"confirm", Control{Type: ControlConfirm, SASNonce: [32]byte{1, 2, 3}}},
		{"ice restart", Control{Type: ControlICERestart, ICEUfrag: "aBcD", ICEPwd: "0123456789abcdefghij+/", Generation: 1}},
		{"ice restart reply", Control{Type: ControlICERestartReply, ICEUfrag: strings.Repeat("u", MaxICELen), ICEPwd: strings.Repeat("p", MaxICELen), Generation: 1<<32 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.CallID, c.Time = id, testNow
			data := mustSign(t)(SignControl(a.dev.key, &c))
			got, err := ParseControl(data, pub(a.dev), testNow.Add(-time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, c) {
				t.Errorf("got %+v, want %+v", *got, c)
			}
		})
	}
}

// wantErrs fails unless err wraps every sentinel in want.
func wantErrs(t *testing.T, err error, want ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("error %q does not wrap %q", err, w)
		}
	}
}

// resign signs an edited copy of the test offer with dk, bypassing SignOffer.
func resignOffer(t *testing.T, dk *crypto.DeviceKey, o Offer, edit func(*Offer)) []byte {
	t.Helper()
	edit(&o)
	return signRaw(t, dk, OfferContext, encodeOffer(&o))
}

func TestParseOfferRejects(t *testing.T) {
	p := signedPair(t)
	a, b := p.callerA, p.calleeB
	o := *p.o
	flip := func(i int) []byte {
		d := bytes.Clone(p.offer)
		d[i] ^= 1
		return d
	}
	withVersion := func(v byte) []byte {
		pl := encodeOffer(&o)
		pl[0] = v
		return signRaw(t, a.dev.key, OfferContext, pl)
	}
	tests := []struct {
		name string
		data []byte
		now  time.Time
		opts []ParseOption
		want []error
	}{
		{"forged signature", flip(len(p.offer) - 1), testNow, nil, []error{ErrBadSignature, crypto.ErrBadSignature}},
		{"modified payload", flip(len(p.offer) - 100), testNow, nil, []error{ErrBadSignature}},
		{"signed by device of another account", resignOffer(t, b.dev.key, o, func(o *Offer) {
			o.AccountCert, o.DeviceCert = b.cert.Raw(), b.dev.cert.Raw()
		}), testNow, nil, []error{ErrUntrustedDevice, crypto.ErrWrongAccount}},
		{"device cert of another account under From's account cert", resignOffer(t, b.dev.key, o, func(o *Offer) {
			o.DeviceCert = b.dev.cert.Raw()
		}), testNow, nil, []error{ErrUntrustedDevice, crypto.ErrWrongAccount}},
		{"signer is not the device in the cert", resignOffer(t, a.dev2.key, o, func(*Offer) {}),
			testNow, nil, []error{ErrWrongSigner}},
		{"expired device cert", resignOffer(t, a.expired.key, o, func(o *Offer) { o.DeviceCert = a.expired.cert.Raw() }),
			testNow, nil, []error{ErrUntrustedDevice, crypto.ErrExpired}},
		{"not yet valid device cert", resignOffer(t, a.future.key, o, func(o *Offer) { o.DeviceCert = a.future.cert.Raw() }),
			testNow, nil, []error{ErrUntrustedDevice, crypto.ErrNotYetValid}},
		{"revoked device, WithCRL", resignOffer(t, a.revoked.key, o, func(o *Offer) { o.DeviceCert = a.revoked.cert.Raw() }),
			testNow, []ParseOption{WithCRL(a.crl)}, []error{ErrUntrustedDevice, crypto.ErrRevoked}},
		{"revoked device, WithCRLLookup", resignOffer(t, a.revoked.key, o, func(o *Offer) { o.DeviceCert = a.revoked.cert.Raw() }),
			testNow, []ParseOption{WithCRLLookup(func(id crypto.AccountID) *crypto.CRL {
				if id == a.id() {
					return a.crl
				}
				return nil
			})}, []error{ErrUntrustedDevice, crypto.ErrRevoked}},
		{"CRL of another account fails closed", p.offer, testNow, []ParseOption{WithCRL(b.crl)}, []error{ErrUntrustedDevice}},
		{"stale", p.offer, testNow.Add(TimeWindow + time.Millisecond), nil, []error{ErrStale}},
		{"future", p.offer, testNow.Add(-TimeWindow - time.Millisecond), nil, []error{ErrFuture}},
		{"wrong recipient", p.offer, testNow, []ParseOption{WithRecipient(a.id())}, []error{ErrWrongRecipient}},
		{"answer presented as offer", p.answer, testNow, nil, []error{ErrWrongMessageType, crypto.ErrWrongContext}},
		{"control presented as offer", signRaw(t, a.dev.key, ControlContext, encodeOffer(&o)), testNow, nil, []error{ErrWrongMessageType}},
		{"answer payload under offer context", signRaw(t, b.dev.key, OfferContext, encodeAnswer(p.a)), testNow, nil, []error{ErrWrongMessageType}},
		{"empty", nil, testNow, nil, []error{ErrMalformed}},
		{"truncated envelope", p.offer[:len(p.offer)/2], testNow, nil, []error{ErrMalformed}},
		{"truncated payload", signRaw(t, a.dev.key, OfferContext, encodeOffer(&o)[:500]), testNow, nil, []error{ErrMalformed}},
		{"trailing payload bytes", signRaw(t, a.dev.key, OfferContext, append(encodeOffer(&o), 0)), testNow, nil, []error{ErrMalformed}},
		{"oversized", append(bytes.Clone(p.offer), make([]byte, MaxMessage)...), testNow, nil, []error{ErrTooLarge}},
		{"unknown payload version", withVersion(2), testNow, nil, []error{ErrMalformed}},
		{"invalid ML-KEM key", resignOffer(t, a.dev.key, o, func(o *Offer) { o.MLKEMEncapKey = fill(0xff, len(o.MLKEMEncapKey)) }),
			testNow, nil, []error{ErrMalformed}},
		{"zero SAS commit", resignOffer(t, a.dev.key, o, func(o *Offer) { o.SASCommit = [32]byte{} }),
			testNow, nil, []error{ErrMalformed}},
		{"bad ICE ufrag", resignOffer(t, a.dev.key, o, func(o *Offer) { o.ICEUfrag = "a b c d" }),
			testNow, nil, []error{ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dc, err := ParseOffer(tt.data, tt.now, tt.opts...)
			wantErrs(t, err, tt.want...)
			if got != nil || dc != nil {
				t.Error("returned values with an error")
			}
			if !strings.HasPrefix(err.Error(), "callproto.ParseOffer: ") {
				t.Errorf("error %q lacks the operation prefix", err)
			}
		})
	}
}

func TestParseOfferTimeWindowEdges(t *testing.T) {
	p := signedPair(t)
	for _, now := range []time.Time{testNow.Add(TimeWindow), testNow.Add(-TimeWindow)} {
		if _, _, err := ParseOffer(p.offer, now); err != nil {
			t.Errorf("now = offer time %+v: %v", now.Sub(testNow), err)
		}
	}
	// Without a CRL, revocation is not checked (documented).
	a := p.callerA
	data := resignOffer(t, a.revoked.key, *p.o, func(o *Offer) { o.DeviceCert = a.revoked.cert.Raw() })
	if _, _, err := ParseOffer(data, testNow); err != nil {
		t.Errorf("revoked device without CRL: %v", err)
	}
}

func TestParseAnswerRejects(t *testing.T) {
	p := signedPair(t)
	a, b := p.callerA, p.calleeB
	now := testNow.Add(3 * time.Second)
	// A second, different offer with the same call ID.
	o2 := *p.o
	o2.ICEUfrag = "ZZZZZZZZ"
	offer2 := mustSign(t)(SignOffer(a.dev.key, &o2))
	resign := func(dk *crypto.DeviceKey, edit func(*Answer)) []byte {
		an := *p.a
		edit(&an)
		return signRaw(t, dk, AnswerContext, encodeAnswer(&an))
	}
	tests := []struct {
		name        string
		data, offer []byte
		callee      crypto.AccountID
		now         time.Time
		opts        []ParseOption
		want        []error
	}{
		{"answer to another offer", p.answer, offer2, b.id(), now, nil, []error{ErrOfferMismatch}},
		{"offer hash right, call ID wrong", resign(b.dev.key, func(an *Answer) { an.CallID[0] ^= 0xff }),
			p.offer, b.id(), now, nil, []error{ErrOfferMismatch}},
		{"answered by another account", p.answer, p.offer, a.id(), now, nil, []error{ErrUntrustedDevice, crypto.ErrWrongAccount}},
		{"forged signature", func() []byte { d := bytes.Clone(p.answer); d[len(d)-3] ^= 4; return d }(),
			p.offer, b.id(), now, nil, []error{ErrBadSignature}},
		{"signer is not the device in the cert", resign(b.dev2.key, func(*Answer) {}), p.offer, b.id(), now, nil, []error{ErrWrongSigner}},
		{"revoked callee device", resign(b.revoked.key, func(an *Answer) { an.DeviceCert = b.revoked.cert.Raw() }),
			p.offer, b.id(), now, []ParseOption{WithCRL(b.crl)}, []error{ErrUntrustedDevice, crypto.ErrRevoked}},
		{"expired callee device", resign(b.expired.key, func(an *Answer) { an.DeviceCert = b.expired.cert.Raw() }),
			p.offer, b.id(), now, nil, []error{ErrUntrustedDevice, crypto.ErrExpired}},
		{"offer presented as answer", p.offer, p.offer, b.id(), now, nil, []error{ErrWrongMessageType}},
		{"stale", p.answer, p.offer, b.id(), now.Add(TimeWindow), nil, []error{ErrStale}},
		{"future", p.answer, p.offer, b.id(), testNow.Add(-TimeWindow), nil, []error{ErrFuture}},
		{"truncated", p.answer[:100], p.offer, b.id(), now, nil, []error{ErrMalformed}},
		{"oversized", append(bytes.Clone(p.answer), make([]byte, MaxMessage)...), p.offer, b.id(), now, nil, []error{ErrTooLarge}},
		{"short ciphertext", resign(b.dev.key, func(an *Answer) { an.MLKEMCiphertext = an.MLKEMCiphertext[:100] }),
			p.offer, b.id(), now, nil, []error{ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dc, err := ParseAnswer(tt.data, tt.offer, tt.callee, tt.now, tt.opts...)
			wantErrs(t, err, tt.want...)
			if got != nil || dc != nil {
				t.Error("returned values with an error")
			}
		})
	}
}

func TestParseControlRejects(t *testing.T) {
	a, b := fixtures(t)
	good := Control{CallID: CallID{1}, Type: ControlHangup, Time: testNow}
	data := mustSign(t)(SignControl(a.dev.key, &good))
	raw := func(c Control, edit func([]byte) []byte) []byte {
		return signRaw(t, a.dev.key, ControlContext, edit(encodeControl(&c)))
	}
	same := func(b []byte) []byte { return b }
	restart := Control{CallID: CallID{1}, Type: ControlICERestart, ICEUfrag: "uuuu", ICEPwd: strings.Repeat("p", 22), Generation: 3, Time: testNow}
	tests := []struct {
		name string
		data []byte
		now  time.Time
		want []error
	}{
		{"signed by another device", mustSign(t)(SignControl(b.dev.key, &good)), testNow, []error{ErrWrongSigner}},
		{"other device of the same account", mustSign(t)(SignControl(a.dev2.key, &good)), testNow, []error{ErrWrongSigner}},
		{"stale", data, testNow.Add(TimeWindow + 1), []error{ErrStale}},
		{"future", data, testNow.Add(-TimeWindow - 1), []error{ErrFuture}},
		{"offer context", signRaw(t, a.dev.key, OfferContext, encodeControl(&good)), testNow, []error{ErrWrongMessageType}},
		{"candidate on ringing", raw(Control{CallID: CallID{1}, Type: ControlCandidate, Candidate: "x", Time: testNow},
			func(p []byte) []byte { p[26] = 1; return p }), testNow, []error{ErrMalformed}},
		{"unknown type", raw(good, func(p []byte) []byte { p[26] = 200; return p }), testNow, []error{ErrMalformed}},
		{"type zero", raw(good, func(p []byte) []byte { p[26] = 0; return p }), testNow, []error{ErrMalformed}},
		{"error without code", raw(Control{CallID: CallID{1}, Type: ControlError, Code: 1, Time: testNow},
			func(p []byte) []byte { p[len(p)-1] = 0; return p }), testNow, []error{ErrMalformed}},
		{"control character in reason", raw(Control{CallID: CallID{1}, Type: ControlHangup, Reason: "ab", Time: testNow},
			func(p []byte) []byte { p[len(p)-1] = '\n'; return p }), testNow, []error{ErrMalformed}},
		{"trailing byte", raw(good, func(p []byte) []byte { return append(p, 0) }), testNow, []error{ErrMalformed}},
		{"ice restart generation zero", raw(restart, func(p []byte) []byte { clear(p[len(p)-4:]); return p }), testNow, []error{ErrMalformed}},
		{"ice restart short password", raw(restart, func(p []byte) []byte {
			// pwd length byte and the password itself, cut to 21 characters
			n := len(p) - 4 - 22
			p[n-1] = 21
			return append(p[:n+21], p[n+22:]...)
		}), testNow, []error{ErrMalformed}},
		{"ice restart credentials on hangup", raw(good, func(p []byte) []byte {
			return append(p, 4, 'a', 'b', 'c', 'd')
		}), testNow, []error{ErrMalformed}},
		{"ice restart ufrag not an ice-char", raw(restart, func(p []byte) []byte { p[29] = '-'; return p }), testNow, []error{ErrMalformed}},
		{"zero call ID", raw(Control{Type: ControlHangup, Time: testNow}, same), testNow, []error{ErrMalformed}},
		{"truncated", data[:40], testNow, []error{ErrMalformed}},
		{"oversized", make([]byte, MaxMessage+1), testNow, []error{ErrTooLarge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseControl(tt.data, pub(a.dev), tt.now)
			wantErrs(t, err, tt.want...)
			if c != nil {
				t.Error("returned a message with an error")
			}
		})
	}
}

func TestSignRejectsInvalid(t *testing.T) {
	p := signedPair(t)
	a, b := p.callerA, p.calleeB
	offerTests := []struct {
		name string
		dk   *crypto.DeviceKey
		edit func(*Offer)
	}{
		{"zero call ID", a.dev.key, func(o *Offer) { o.CallID = CallID{} }},
		{"zero time", a.dev.key, func(o *Offer) { o.Time = time.Time{} }},
		{"zero To", a.dev.key, func(o *Offer) { o.To = crypto.AccountID{} }},
		{"zero SAS commit", a.dev.key, func(o *Offer) { o.SASCommit = [32]byte{} }},
		{"short X25519", a.dev.key, func(o *Offer) { o.X25519 = o.X25519[:31] }},
		{"no ML-KEM key", a.dev.key, func(o *Offer) { o.MLKEMEncapKey = nil }},
		{"short ICE password", a.dev.key, func(o *Offer) { o.ICEPwd = "short" }},
		{"long ICE ufrag", a.dev.key, func(o *Offer) { o.ICEUfrag = strings.Repeat("a", MaxICELen+1) }},
		{"no media", a.dev.key, func(o *Offer) { o.Media = nil }},
		{"too many media", a.dev.key, func(o *Offer) {
			o.Media = nil
			for i := range MaxMedia + 1 {
				o.Media = append(o.Media, testMedia(uint32(10 * i))[0])
			}
		}},
		{"duplicate SSRC", a.dev.key, func(o *Offer) { o.Media[1].SSRC = o.Media[0].SSRC }},
		{"payload type 128", a.dev.key, func(o *Offer) { o.Media[0].PayloadType = 128 }},
		{"unknown kind", a.dev.key, func(o *Offer) { o.Media[0].Kind = "text" }},
		{"codec with space", a.dev.key, func(o *Offer) { o.Media[0].Codec = "op us" }},
		{"zero clock rate", a.dev.key, func(o *Offer) { o.Media[0].ClockRate = 0 }},
		{"nine channels", a.dev.key, func(o *Offer) { o.Media[0].Channels = 9 }},
		{"key is not the device cert's", a.dev2.key, func(*Offer) {}},
		{"From is not the cert's account", a.dev.key, func(o *Offer) { o.From = b.id() }},
		{"expired own cert", a.expired.key, func(o *Offer) { o.DeviceCert = a.expired.cert.Raw() }},
		{"nil key", nil, func(*Offer) {}},
	}
	for _, tt := range offerTests {
		t.Run("offer/"+tt.name, func(t *testing.T) {
			o := *p.o
			o.Media = append([]MediaDesc(nil), o.Media...)
			tt.edit(&o)
			data, err := SignOffer(tt.dk, &o)
			wantErrs(t, err, ErrInvalidMessage)
			if data != nil {
				t.Error("returned data with an error")
			}
		})
	}
	answerTests := []struct {
		name string
		dk   *crypto.DeviceKey
		edit func(*Answer)
	}{
		{"zero offer hash", b.dev.key, func(an *Answer) { an.OfferHash = [32]byte{} }},
		{"short ciphertext", b.dev.key, func(an *Answer) { an.MLKEMCiphertext = an.MLKEMCiphertext[1:] }},
		{"key is not the device cert's", b.dev2.key, func(*Answer) {}},
		{"account cert garbage", b.dev.key, func(an *Answer) { an.AccountCert = []byte("nope") }},
	}
	for _, tt := range answerTests {
		t.Run("answer/"+tt.name, func(t *testing.T) {
			an := *p.a
			tt.edit(&an)
			_, err := SignAnswer(tt.dk, &an)
			wantErrs(t, err, ErrInvalidMessage)
		})
	}
	controlTests := []struct {
		name string
		c    Control
	}{
		{"unknown type", Control{Type: "dance"}},
		{"candidate missing", Control{Type: ControlCandidate}},
		{"candidate on hangup", Control{Type: ControlHangup, Candidate: "c"}},
		{"candidate not ASCII", Control{Type: ControlCandidate, Candidate: "caf\u00e9"}},
		{"candidate too long", Control{Type: ControlCandidate, Candidate: strings.Repeat("c", MaxCandidateLen+1)}},
		{"error without code", Control{Type: ControlError}},
		{"code on busy", Control{Type: ControlBusy, Code: CodeInternal}},
		{"confirm without nonce", Control{Type: ControlConfirm}},
		{"nonce on ringing", Control{Type: ControlRinging, SASNonce: [32]byte{1}}},
		{"reason too long", Control{Type: ControlDecline, Reason: strings.Repeat("r", MaxReasonLen+1)}},
		{"reason not UTF-8", Control{Type: ControlDecline, Reason: "\xff"}},
		{"ice restart without generation", Control{Type: ControlICERestart, ICEUfrag: "uuuu", ICEPwd: strings.Repeat("p", 22)}},
		{"ice restart without credentials", Control{Type: ControlICERestart, Generation: 1}},
		{"ice restart reply short ufrag", Control{Type: ControlICERestartReply, ICEUfrag: "uuu", ICEPwd: strings.Repeat("p", 22), Generation: 1}},
		{"ice restart ufrag too long", Control{Type: ControlICERestart, ICEUfrag: strings.Repeat("u", MaxICELen+1), ICEPwd: strings.Repeat("p", 22), Generation: 1}},
		{"generation on hangup", Control{Type: ControlHangup, Generation: 1}},
		{"credentials on hangup", Control{Type: ControlHangup, ICEUfrag: "uuuu", ICEPwd: strings.Repeat("p", 22)}},
	}
	for _, err := range []error{
		func() error { _, err := SignOffer(a.dev.key, nil); return err }(),
		func() error { _, err := SignAnswer(b.dev.key, nil); return err }(),
		func() error { _, err := SignControl(a.dev.key, nil); return err }(),
	} {
		wantErrs(t, err, ErrInvalidMessage)
	}
	for _, tt := range controlTests {
		t.Run("control/"+tt.name, func(t *testing.T) {
			c := tt.c
			c.CallID, c.Time = CallID{1}, testNow
			_, err := SignControl(a.dev.key, &c)
			wantErrs(t, err, ErrInvalidMessage)
		})
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"revoked beats untrusted", errors.Join(ErrUntrustedDevice, crypto.ErrRevoked), CodeRevoked},
		{"untrusted", ErrUntrustedDevice, CodeUntrusted},
		{"stale", ErrStale, CodeStale},
		{"future", ErrFuture, CodeFuture},
		{"replay", ErrReplay, CodeReplay},
		{"too large", ErrTooLarge, CodeMalformed},
		{"SAS commit", ErrSASCommit, CodeKeyAgreement},
		{"not contact", ErrNotContact, CodeNotContact},
		{"other", errors.New("disk full"), CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf = %v, want %v", got, tt.want)
			}
		})
	}
	c := &Control{Type: ControlError, Code: CodeStale, Reason: "your clock"}
	err := c.Err()
	wantErrs(t, err, ErrPeer, ErrStale)
	if !strings.Contains(err.Error(), "your clock") {
		t.Errorf("error %q lacks the reason", err)
	}
	wantErrs(t, (&Control{Type: ControlError, Code: 999}).Err(), ErrPeer)
	if err := (&Control{Type: ControlHangup}).Err(); err != nil {
		t.Errorf("hangup Err = %v, want nil", err)
	}
}
