package callproto

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
)

// The fuzz targets take one byte string and use it twice: as a whole signed
// message (exercising size, envelope, context and signature checks) and as a
// payload that the target signs with the test device's key, so that the
// payload decoder and the certificate and time checks behind the signature
// are reached too. Whatever parses must stay within the bounds, re-encode
// to the same payload and parse again to the same message.

// payloadOf returns the payload of a signed message.
func payloadOf(tb testing.TB, data []byte) []byte {
	tb.Helper()
	env, err := crypto.ParseEnvelope(data, MaxMessage)
	if err != nil {
		tb.Fatalf("accepted message has no envelope: %v", err)
	}
	return env.Payload
}

func FuzzParseOffer(f *testing.F) {
	p := signedPair(f)
	a := p.callerA
	f.Add(p.offer)
	f.Add(encodeOffer(p.o))
	f.Add(p.answer)
	o := *p.o
	o.Media = o.Media[:1]
	f.Add(encodeOffer(&o))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o, _, err := ParseOffer(data, testNow); err == nil {
			checkOffer(t, data, o)
		}
		if len(data) > MaxMessage-200 {
			return
		}
		signed := signRaw(t, a.dev.key, OfferContext, data)
		o, _, err := ParseOffer(signed, testNow)
		if err != nil {
			return
		}
		checkOffer(t, signed, o)
	})
}

func checkOffer(t *testing.T, data []byte, o *Offer) {
	t.Helper()
	if len(data) > MaxMessage || len(o.Media) > MaxMedia || len(o.AccountCert) > MaxCertSize || len(o.DeviceCert) > MaxCertSize {
		t.Fatal("accepted an offer beyond the bounds")
	}
	if !bytes.Equal(encodeOffer(o), payloadOf(t, data)) {
		t.Fatal("accepted payload does not re-encode to itself")
	}
	again, _, err := ParseOffer(data, testNow)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if !reflect.DeepEqual(again, o) {
		t.Fatal("re-parse differs")
	}
}

func FuzzParseAnswer(f *testing.F) {
	p := signedPair(f)
	b := p.calleeB
	now := testNow.Add(2 * time.Second)
	f.Add(p.answer)
	f.Add(encodeAnswer(p.a))
	f.Add(p.offer)
	f.Fuzz(func(t *testing.T, data []byte) {
		if a, _, err := ParseAnswer(data, p.offer, b.id(), now); err == nil {
			checkAnswer(t, data, p.offer, b.id(), now, a)
		}
		if len(data) > MaxMessage-200 {
			return
		}
		signed := signRaw(t, b.dev.key, AnswerContext, data)
		a, _, err := ParseAnswer(signed, p.offer, b.id(), now)
		if err != nil {
			return
		}
		checkAnswer(t, signed, p.offer, b.id(), now, a)
	})
}

func checkAnswer(t *testing.T, data, offer []byte, callee crypto.AccountID, now time.Time, a *Answer) {
	t.Helper()
	if len(data) > MaxMessage || len(a.Media) > MaxMedia || a.OfferHash != OfferHash(offer) {
		t.Fatal("accepted an answer beyond the bounds or for another offer")
	}
	if !bytes.Equal(encodeAnswer(a), payloadOf(t, data)) {
		t.Fatal("accepted payload does not re-encode to itself")
	}
	again, _, err := ParseAnswer(data, offer, callee, now)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if !reflect.DeepEqual(again, a) {
		t.Fatal("re-parse differs")
	}
}

func FuzzParseControl(f *testing.F) {
	a, _ := fixtures(f)
	for _, c := range []Control{
		{Type: ControlCandidate, Candidate: "candidate:1 1 udp 2130706431 192.0.2.1 54321 typ host"},
		{Type: ControlError, Code: CodeReplay, Reason: "seen that"},
		{Type: ControlConfirm, SASNonce: [32]byte{1, 2, 3}},
		{Type: ControlDecline, Reason: "busy ☺"},
		{Type: ControlICERestart, ICEUfrag: "aBcD", ICEPwd: "0123456789abcdefghij+/", Generation: 7},
		{Type: ControlICERestartReply, ICEUfrag: "wxyz", ICEPwd: "0123456789abcdefghijKL", Generation: 1},
	} {
		c.CallID, c.Time = CallID{1, 2}, testNow
		f.Add(mustSign(f)(SignControl(a.dev.key, &c)))
		f.Add(encodeControl(&c))
	}
	signer := pub(a.dev)
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseControl(data, signer, testNow); err == nil {
			checkControl(t, data, c)
		}
		if len(data) > MaxMessage-200 {
			return
		}
		signed := signRaw(t, a.dev.key, ControlContext, data)
		c, err := ParseControl(signed, signer, testNow)
		if err != nil {
			return
		}
		checkControl(t, signed, c)
	})
}

func checkControl(t *testing.T, data []byte, c *Control) {
	t.Helper()
	if len(c.Reason) > MaxReasonLen || len(c.Candidate) > MaxCandidateLen || len(c.ICEUfrag) > MaxICELen || len(c.ICEPwd) > MaxICELen {
		t.Fatal("accepted a control message beyond the bounds")
	}
	if c.Type.IsICERestart() != (c.Generation != 0) || (!c.Type.IsICERestart() && c.ICEUfrag+c.ICEPwd != "") {
		t.Fatal("accepted ICE restart fields on the wrong type")
	}
	if !bytes.Equal(encodeControl(c), payloadOf(t, data)) {
		t.Fatal("accepted payload does not re-encode to itself")
	}
	again, err := ParseControl(data, pub(fixA.dev), testNow)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Fatal("re-parse differs")
	}
}
