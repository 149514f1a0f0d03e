package callproto

import "testing"

// TestDirectionsWipedWithKeys: the per-direction SRTP keys a call hands to
// its transport are cleared by Keys.Wipe, on both sides; Directions hands
// out no copy that outlives the call.
func TestDirectionsWipedWithKeys(t *testing.T) {
	p := signedPair(t)
	tr := NewTranscript(p.offer, p.answer)
	callee, err := p.callee.Finish(tr)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := p.caller.Finish(p.a.X25519, p.a.MLKEMCiphertext, tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		name   string
		k      *Keys
		caller bool
	}{{"caller", caller, true}, {"callee", callee, false}} {
		local, remote := side.k.Directions(side.caller)
		localKey := local.MasterKey[:] // what a caller hands to calltransport
		if allZero(localKey) || allZero(remote.MasterSalt[:]) {
			t.Fatalf("%s: keys zero before Wipe", side.name)
		}
		side.k.Wipe()
		if !allZero(local.MasterKey[:]) || !allZero(local.MasterSalt[:]) ||
			!allZero(remote.MasterKey[:]) || !allZero(remote.MasterSalt[:]) || !allZero(localKey) {
			t.Errorf("%s: keys from Directions survive Keys.Wipe: %x %x", side.name, local.MasterKey, remote.MasterKey)
		}
	}
}
