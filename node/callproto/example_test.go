package callproto_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
)

// identity is one account with one device, as a node would load it.
type identity struct {
	account *crypto.AccountCert
	device  *crypto.DeviceCert
	key     *crypto.DeviceKey
}

func newIdentity() identity {
	ak, _ := crypto.NewAccountKey(nil)
	ac, _ := crypto.CreateAccountCert(ak, "", crypto.CertOptions{})
	dk, _ := crypto.NewDeviceKey(nil)
	dc, _ := crypto.IssueDeviceCert(ak, ac, dk.Public(), "", crypto.CertOptions{})
	return identity{ac, dc, dk}
}

// Example walks through one call: offer, answer, confirm, and the keys and
// SAS both sides end up with. Error handling is shortened to keep it
// readable; real code checks every error.
func Example() {
	alice, bob := newIdentity(), newIdentity()
	replays := callproto.NewReplayCache(0)
	now := time.Now()

	// Alice calls Bob.
	ck, _ := callproto.NewCallerKeys()
	defer ck.Wipe()
	offer := &callproto.Offer{
		Time: now, From: alice.account.ID, To: bob.account.ID,
		AccountCert: alice.account.Raw(), DeviceCert: alice.device.Raw(),
		ICEUfrag: "aliceUfrag", ICEPwd: "alicePasswordOfIceChars",
		Media: []callproto.MediaDesc{{Kind: callproto.KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1, SSRC: 1}},
	}
	_, _ = rand.Read(offer.CallID[:])
	ck.FillOffer(offer)
	signedOffer, _ := callproto.SignOffer(alice.key, offer)

	// Bob's device checks the offer, refuses replays and answers.
	o, aliceDevice, err := callproto.ParseOffer(signedOffer, now, callproto.WithRecipient(bob.account.ID))
	fmt.Println("offer accepted:", err == nil)
	fmt.Println("replay:", replays.Check(o.CallID, now) != nil)
	x, ct, secrets, _ := callproto.CalleeAgree(o.X25519, o.MLKEMEncapKey)
	answer := &callproto.Answer{
		CallID: o.CallID, Time: now, OfferHash: callproto.OfferHash(signedOffer),
		AccountCert: bob.account.Raw(), DeviceCert: bob.device.Raw(),
		X25519: x, MLKEMCiphertext: ct,
		ICEUfrag: "bobUfrag", ICEPwd: "bobPasswordOfIceCharsXX",
		Media: []callproto.MediaDesc{{Kind: callproto.KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1, SSRC: 2}},
	}
	signedAnswer, _ := callproto.SignAnswer(bob.key, answer)
	bobKeys, _ := secrets.Finish(callproto.NewTranscript(signedOffer, signedAnswer))
	defer bobKeys.Wipe()

	// Alice checks the answer, derives her keys and reveals the SAS nonce.
	a, _, err := callproto.ParseAnswer(signedAnswer, signedOffer, bob.account.ID, now)
	fmt.Println("answer accepted:", err == nil)
	aliceKeys, _ := ck.Finish(a.X25519, a.MLKEMCiphertext, callproto.NewTranscript(signedOffer, signedAnswer))
	defer aliceKeys.Wipe()
	confirm, _ := callproto.SignControl(alice.key, &callproto.Control{
		CallID: o.CallID, Type: callproto.ControlConfirm, SASNonce: aliceKeys.SASNonce, Time: now})

	// Bob checks the confirm came from the offer's device and gets the SAS.
	alicePub, _ := aliceDevice.Device.PublicKey()
	c, _ := callproto.ParseControl(confirm, alicePub, now)
	fmt.Println("SAS confirmed:", bobKeys.ConfirmSAS(o.SASCommit, c.SASNonce) == nil)

	aliceSend, _ := aliceKeys.Directions(true)
	_, bobReceive := bobKeys.Directions(false)
	fmt.Println("same media keys:", *aliceSend == *bobReceive)
	fmt.Println("same SAS:", aliceKeys.SAS == bobKeys.SAS)
	// Output:
	// offer accepted: true
	// replay: false
	// answer accepted: true
	// SAS confirmed: true
	// same media keys: true
	// same SAS: true
}
