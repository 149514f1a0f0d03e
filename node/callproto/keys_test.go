package callproto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"testing"
	"time"
)

// kat is one vector of testdata/keyschedule.json, made by
// testdata/gen_keyschedule.py, an independent implementation on pyca/cryptography.
type kat struct {
	Name   string `json:"name"`
	Inputs struct {
		CallerX25519Private string `json:"caller_x25519_private"`
		CalleeX25519Private string `json:"callee_x25519_private"`
		CallerMLKEMSeed     string `json:"caller_mlkem_seed"`
		CalleeMLKEMRandom   string `json:"callee_mlkem_random"`
		SASNonce            string `json:"sas_nonce"`
		SignedOffer         string `json:"signed_offer"`
		SignedAnswer        string `json:"signed_answer"`
	} `json:"inputs"`
	Expected struct {
		CallerX25519Public string `json:"caller_x25519_public"`
		CalleeX25519Public string `json:"callee_x25519_public"`
		X25519Shared       string `json:"x25519_shared"`
		MLKEMEncapKey      string `json:"mlkem_encap_key"`
		MLKEMCiphertext    string `json:"mlkem_ciphertext"`
		MLKEMShared        string `json:"mlkem_shared"`
		Transcript         string `json:"transcript"`
		CallerToCalleeKey  string `json:"caller_to_callee_key"`
		CallerToCalleeSalt string `json:"caller_to_callee_salt"`
		CalleeToCallerKey  string `json:"callee_to_caller_key"`
		CalleeToCallerSalt string `json:"callee_to_caller_salt"`
		SASKey             string `json:"sas_key"`
		SASCommit          string `json:"sas_commit"`
		SAS                string `json:"sas"`
	} `json:"expected"`
}

func loadKATs(t *testing.T) []kat {
	t.Helper()
	b, err := os.ReadFile("testdata/keyschedule.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []kat `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 2 {
		t.Fatalf("%d vectors, want at least 2", len(f.Vectors))
	}
	return f.Vectors
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != want {
		t.Errorf("%s = %s, want %s", what, g, want)
	}
}

func checkKeys(t *testing.T, side string, k *Keys, v *kat) {
	t.Helper()
	checkHex(t, side+" caller->callee key", k.CallerToCallee.MasterKey[:], v.Expected.CallerToCalleeKey)
	checkHex(t, side+" caller->callee salt", k.CallerToCallee.MasterSalt[:], v.Expected.CallerToCalleeSalt)
	checkHex(t, side+" callee->caller key", k.CalleeToCaller.MasterKey[:], v.Expected.CalleeToCallerKey)
	checkHex(t, side+" callee->caller salt", k.CalleeToCaller.MasterSalt[:], v.Expected.CalleeToCallerSalt)
}

func TestKeyScheduleVectors(t *testing.T) {
	for _, v := range loadKATs(t) {
		t.Run(v.Name, func(t *testing.T) {
			in, want := &v.Inputs, &v.Expected
			// Caller keys from fixed randomness: X25519 scalar, ML-KEM seed, nonce.
			r := bytes.NewReader(unhex(t, in.CallerX25519Private+in.CallerMLKEMSeed+in.SASNonce))
			ck, err := newCallerKeys(r)
			if err != nil {
				t.Fatal(err)
			}
			checkHex(t, "caller X25519 public", ck.X25519Public(), want.CallerX25519Public)
			checkHex(t, "ML-KEM encapsulation key", ck.EncapKey(), want.MLKEMEncapKey)
			commit := ck.SASCommit()
			checkHex(t, "SAS commit", commit[:], want.SASCommit)

			// Callee with a fixed X25519 scalar and derandomised ML-KEM.
			encap := testEncapWith(unhex(t, in.CalleeMLKEMRandom))
			x, ct, sec, err := calleeAgree(bytes.NewReader(unhex(t, in.CalleeX25519Private)), encap, ck.X25519Public(), ck.EncapKey())
			if err != nil {
				t.Fatal(err)
			}
			checkHex(t, "callee X25519 public", x, want.CalleeX25519Public)
			checkHex(t, "ML-KEM ciphertext", ct, want.MLKEMCiphertext)
			checkHex(t, "callee X25519 shared", sec.xs[:], want.X25519Shared)
			checkHex(t, "callee ML-KEM shared", sec.ks[:], want.MLKEMShared)

			tr := NewTranscript(unhex(t, in.SignedOffer), unhex(t, in.SignedAnswer))
			checkHex(t, "transcript", tr[:], want.Transcript)

			// The schedule alone, from the shared secrets.
			direct, err := deriveKeys(unhex(t, want.X25519Shared), unhex(t, want.MLKEMShared), tr)
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(t, "deriveKeys", direct, &v)
			checkHex(t, "SAS key", direct.sasKey[:], want.SASKey)

			callerKeys, err := ck.Finish(x, ct, tr)
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(t, "caller", callerKeys, &v)
			if callerKeys.SAS != want.SAS {
				t.Errorf("caller SAS = %q, want %q", callerKeys.SAS, want.SAS)
			}
			checkHex(t, "caller SAS nonce", callerKeys.SASNonce[:], in.SASNonce)

			calleeKeys, err := sec.Finish(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(t, "callee", calleeKeys, &v)
			if calleeKeys.SAS != "" {
				t.Errorf("callee SAS before confirm = %q, want empty", calleeKeys.SAS)
			}
			if err := calleeKeys.ConfirmSAS(commit, callerKeys.SASNonce); err != nil {
				t.Fatal(err)
			}
			if calleeKeys.SAS != want.SAS {
				t.Errorf("callee SAS = %q, want %q", calleeKeys.SAS, want.SAS)
			}
		})
	}
}

// TestX25519RFC7748 anchors the first vector to the RFC's published shared
// secret, independent of any implementation.
func TestX25519RFC7748(t *testing.T) {
	v := loadKATs(t)[0]
	const rfcShared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
	if v.Expected.X25519Shared != rfcShared {
		t.Fatalf("vector %s: x25519_shared = %s, want RFC 7748 §6.1 %s", v.Name, v.Expected.X25519Shared, rfcShared)
	}
	s, err := x25519(unhex(t, v.Inputs.CallerX25519Private), unhex(t, v.Expected.CalleeX25519Public))
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "X25519", s, rfcShared)
}

var sasFormat = regexp.MustCompile(`^[0-9]{3} [0-9]{3}$`)

// TestCallRoundTrip runs a whole call setup with real signed messages and
// random keys: both sides get identical keys, the directions differ, and
// the SAS matches after the confirm message.
func TestCallRoundTrip(t *testing.T) {
	a, b := fixtures(t)
	ck, err := NewCallerKeys()
	if err != nil {
		t.Fatal(err)
	}
	o := newTestOffer(a, a.dev, b, ck, testNow)
	offer := mustSign(t)(SignOffer(a.dev.key, o))

	// Callee side.
	po, callerDev, err := ParseOffer(offer, testNow.Add(time.Second), WithRecipient(b.id()), WithCRL(a.crl))
	if err != nil {
		t.Fatal(err)
	}
	x, ct, sec, err := CalleeAgree(po.X25519, po.MLKEMEncapKey)
	if err != nil {
		t.Fatal(err)
	}
	ans := &Answer{CallID: po.CallID, Time: testNow.Add(2 * time.Second), OfferHash: OfferHash(offer),
		AccountCert: b.cert.Raw(), DeviceCert: b.dev.cert.Raw(), X25519: x, MLKEMCiphertext: ct,
		ICEUfrag: "calleeUfrag", ICEPwd: "calleePasswordIsLongEnough", Media: testMedia(7)}
	answer := mustSign(t)(SignAnswer(b.dev.key, ans))
	calleeKeys, err := sec.Finish(NewTranscript(offer, answer))
	if err != nil {
		t.Fatal(err)
	}

	// Caller side.
	pa, calleeDev, err := ParseAnswer(answer, offer, b.id(), testNow.Add(3*time.Second), WithCRL(b.crl))
	if err != nil {
		t.Fatal(err)
	}
	if calleeDev.Device != b.dev.key.ID() {
		t.Errorf("answering device = %s, want %s", calleeDev.Device, b.dev.key.ID())
	}
	callerKeys, err := ck.Finish(pa.X25519, pa.MLKEMCiphertext, NewTranscript(offer, answer))
	if err != nil {
		t.Fatal(err)
	}
	confirm := mustSign(t)(SignControl(a.dev.key, &Control{CallID: o.CallID, Type: ControlConfirm,
		SASNonce: callerKeys.SASNonce, Time: testNow.Add(3 * time.Second)}))

	// Callee checks the confirm against the offer's signer and commitment.
	callerPub, err := callerDev.Device.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseControl(confirm, callerPub, testNow.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := calleeKeys.ConfirmSAS(po.SASCommit, c.SASNonce); err != nil {
		t.Fatal(err)
	}

	if callerKeys.CallerToCallee != calleeKeys.CallerToCallee || callerKeys.CalleeToCaller != calleeKeys.CalleeToCaller {
		t.Fatal("caller and callee derived different SRTP keys")
	}
	if callerKeys.CallerToCallee.MasterKey == callerKeys.CalleeToCaller.MasterKey ||
		callerKeys.CallerToCallee.MasterSalt == callerKeys.CalleeToCaller.MasterSalt {
		t.Fatal("the two directions share a key or salt")
	}
	if callerKeys.SAS != calleeKeys.SAS || !sasFormat.MatchString(callerKeys.SAS) {
		t.Fatalf("SAS caller %q, callee %q; want equal, form \"ddd ddd\"", callerKeys.SAS, calleeKeys.SAS)
	}
	local, remote := callerKeys.Directions(true)
	cl, cr := calleeKeys.Directions(false)
	if *local != *cr || *remote != *cl {
		t.Error("Directions: caller's local keys are not the callee's remote keys")
	}
}

func TestTamperedCiphertext(t *testing.T) {
	p := signedPair(t)
	tampered := bytes.Clone(p.a.MLKEMCiphertext)
	tampered[500] ^= 0x01
	tr := NewTranscript(p.offer, p.answer)

	// The signature catches the tampering on the wire...
	bad := *p.a
	bad.MLKEMCiphertext = tampered
	if _, _, err := ParseAnswer(signRaw(t, p.calleeB.dev2.key, AnswerContext, encodeAnswer(&bad)), p.offer, p.calleeB.id(), testNow); err == nil {
		t.Error("answer with a ciphertext re-signed by another device accepted")
	}

	// ...and if the shares are swapped anyway, ML-KEM's implicit rejection
	// gives unrelated keys, so nothing decrypts.
	callerKeys, err := p.caller.Finish(p.a.X25519, tampered, tr)
	if err != nil {
		t.Fatalf("Finish with tampered ciphertext: %v (implicit rejection should not fail)", err)
	}
	calleeKeys, err := p.callee.Finish(tr)
	if err != nil {
		t.Fatal(err)
	}
	if callerKeys.CallerToCallee == calleeKeys.CallerToCallee || callerKeys.CalleeToCaller == calleeKeys.CalleeToCaller {
		t.Fatal("tampered ciphertext gave the same SRTP keys")
	}
}

func TestTranscriptBindsBoundaries(t *testing.T) {
	if NewTranscript([]byte("ab"), []byte("c")) == NewTranscript([]byte("a"), []byte("bc")) {
		t.Error("moving a byte from offer to answer keeps the transcript")
	}
	if NewTranscript([]byte("x"), nil) == NewTranscript(nil, []byte("x")) {
		t.Error("swapping offer and answer keeps the transcript")
	}
}

func TestKeyAgreementErrors(t *testing.T) {
	p := signedPair(t)
	tr := NewTranscript(p.offer, p.answer)
	tests := []struct {
		name      string
		x, ct     []byte
		wantError error
	}{
		{"low-order X25519 point", make([]byte, 32), p.a.MLKEMCiphertext, ErrKeyAgreement},
		{"short X25519", p.a.X25519[:31], p.a.MLKEMCiphertext, ErrKeyAgreement},
		{"short ciphertext", p.a.X25519, p.a.MLKEMCiphertext[:1087], ErrKeyAgreement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.caller.Finish(tt.x, tt.ct, tr)
			wantErrs(t, err, tt.wantError)
		})
	}
	// A failed Finish keeps the secrets for another answer.
	k, err := p.caller.Finish(p.a.X25519, p.a.MLKEMCiphertext, tr)
	if err != nil {
		t.Fatalf("Finish after failures: %v", err)
	}
	if _, err := p.caller.Finish(p.a.X25519, p.a.MLKEMCiphertext, tr); !errors.Is(err, ErrWiped) {
		t.Errorf("second Finish: %v, want ErrWiped", err)
	}
	if _, _, _, err := CalleeAgree(p.o.X25519, fill(0xff, len(p.o.MLKEMEncapKey))); !errors.Is(err, ErrKeyAgreement) {
		t.Errorf("CalleeAgree with a bad ML-KEM key: %v, want ErrKeyAgreement", err)
	}
	if _, _, _, err := CalleeAgree(make([]byte, 32), p.o.MLKEMEncapKey); !errors.Is(err, ErrKeyAgreement) {
		t.Errorf("CalleeAgree with a low-order X25519 key: %v, want ErrKeyAgreement", err)
	}

	calleeKeys, err := p.callee.Finish(tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.callee.Finish(tr); !errors.Is(err, ErrWiped) {
		t.Errorf("second CalleeSecrets.Finish: %v, want ErrWiped", err)
	}
	wrong := k.SASNonce
	wrong[0] ^= 1
	if err := calleeKeys.ConfirmSAS(p.o.SASCommit, wrong); !errors.Is(err, ErrSASCommit) {
		t.Errorf("ConfirmSAS with a wrong nonce: %v, want ErrSASCommit", err)
	}
	if calleeKeys.SAS != "" {
		t.Errorf("SAS set after a failed confirm: %q", calleeKeys.SAS)
	}
	if err := calleeKeys.ConfirmSAS(p.o.SASCommit, k.SASNonce); err != nil {
		t.Fatal(err)
	}
	if calleeKeys.SAS != k.SAS {
		t.Errorf("callee SAS %q, caller %q", calleeKeys.SAS, k.SAS)
	}
	if err := calleeKeys.ConfirmSAS(p.o.SASCommit, k.SASNonce); !errors.Is(err, ErrWiped) {
		t.Errorf("second ConfirmSAS: %v, want ErrWiped", err)
	}
}

func allZero(b []byte) bool { return bytes.Equal(b, make([]byte, len(b))) }

func TestWipe(t *testing.T) {
	t.Run("CallerKeys", func(t *testing.T) {
		k := testCallerKeys(t, 3)
		if allZero(k.xPriv[:]) || allZero(k.kemSeed[:]) || allZero(k.nonce[:]) {
			t.Fatal("fresh keys already zero")
		}
		k.Wipe()
		if !allZero(k.xPriv[:]) || !allZero(k.kemSeed[:]) || !allZero(k.nonce[:]) {
			t.Error("Wipe left secret bytes")
		}
		if _, err := k.Finish(make([]byte, 32), make([]byte, 1088), Transcript{}); !errors.Is(err, ErrWiped) {
			t.Errorf("Finish after Wipe: %v, want ErrWiped", err)
		}
		k.Wipe() // idempotent
	})
	t.Run("Finish wipes both sides' secrets", func(t *testing.T) {
		p := signedPair(t)
		tr := NewTranscript(p.offer, p.answer)
		if _, err := p.caller.Finish(p.a.X25519, p.a.MLKEMCiphertext, tr); err != nil {
			t.Fatal(err)
		}
		if !allZero(p.caller.xPriv[:]) || !allZero(p.caller.kemSeed[:]) || !allZero(p.caller.nonce[:]) {
			t.Error("CallerKeys.Finish left secret bytes")
		}
		if allZero(p.callee.xs[:]) || allZero(p.callee.ks[:]) {
			t.Fatal("callee secrets zero before Finish")
		}
		if _, err := p.callee.Finish(tr); err != nil {
			t.Fatal(err)
		}
		if !allZero(p.callee.xs[:]) || !allZero(p.callee.ks[:]) {
			t.Error("CalleeSecrets.Finish left secret bytes")
		}
	})
	t.Run("CalleeSecrets", func(t *testing.T) {
		p := signedPair(t)
		p.callee.Wipe()
		if !allZero(p.callee.xs[:]) || !allZero(p.callee.ks[:]) {
			t.Error("Wipe left secret bytes")
		}
		if _, err := p.callee.Finish(Transcript{}); !errors.Is(err, ErrWiped) {
			t.Errorf("Finish after Wipe: %v, want ErrWiped", err)
		}
	})
	t.Run("Keys", func(t *testing.T) {
		p := signedPair(t)
		tr := NewTranscript(p.offer, p.answer)
		callee, err := p.callee.Finish(tr)
		if err != nil {
			t.Fatal(err)
		}
		if allZero(callee.sasKey[:]) {
			t.Fatal("SAS key zero before confirm")
		}
		caller, err := p.caller.Finish(p.a.X25519, p.a.MLKEMCiphertext, tr)
		if err != nil {
			t.Fatal(err)
		}
		if !allZero(caller.sasKey[:]) {
			t.Error("caller kept the SAS key after computing the SAS")
		}
		for _, k := range []*Keys{caller, callee} {
			k.Wipe()
			if *k != (Keys{}) {
				t.Errorf("Wipe left %+v", *k)
			}
		}
		if err := callee.ConfirmSAS(p.o.SASCommit, [32]byte{}); !errors.Is(err, ErrWiped) {
			t.Errorf("ConfirmSAS after Wipe: %v, want ErrWiped", err)
		}
	})
}

// TestSASSpread checks that the SAS covers its range roughly uniformly: over
// 2000 nonces the first digit takes all ten values.
func TestSASSpread(t *testing.T) {
	key := fill(7, 32)
	seen := map[byte]int{}
	for i := range 2000 {
		nonce := [32]byte{byte(i), byte(i >> 8)}
		s := sasString(key, nonce[:])
		if !sasFormat.MatchString(s) {
			t.Fatalf("SAS %q not in the form \"ddd ddd\"", s)
		}
		seen[s[0]]++
	}
	for d := byte('0'); d <= '9'; d++ {
		if seen[d] < 100 {
			t.Errorf("first digit %c appears %d times in 2000, want about 200", d, seen[d])
		}
	}
}
