package crypto_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
)

// TestDeviceIDIsLibp2pPeerID proves that a device ID is exactly the libp2p
// peer ID of the device key, in bytes and in text, both ways.
func TestDeviceIDIsLibp2pPeerID(t *testing.T) {
	for i := range 16 {
		seed := sha256.Sum256([]byte{byte(i)})
		dk, err := pcrypto.DeviceKeyFromSeed(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		lk, err := p2pcrypto.UnmarshalEd25519PrivateKey(dk.Ed25519())
		if err != nil {
			t.Fatal(err)
		}
		pid, err := peer.IDFromPrivateKey(lk)
		if err != nil {
			t.Fatal(err)
		}
		d := dk.ID()
		if peer.ID(d) != pid {
			t.Fatalf("device ID %x != peer ID %x", []byte(d), []byte(pid))
		}
		if d.String() != pid.String() {
			t.Fatalf("device ID text %s != peer ID text %s", d, pid)
		}
		parsed, err := pcrypto.ParseDeviceID(pid.String())
		if err != nil || parsed != d {
			t.Fatalf("ParseDeviceID(peer text) = %s, %v", parsed, err)
		}
		back, err := peer.Decode(d.String())
		if err != nil || back != pid {
			t.Fatalf("peer.Decode(device text) = %s, %v", back, err)
		}
		lpub, err := pid.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := lpub.Raw()
		pub, err := d.PublicKey()
		if err != nil || !pub.Equal(ed25519.PublicKey(raw)) {
			t.Fatalf("public keys differ: %x vs %x (%v)", pub, raw, err)
		}
	}
}
