package crypto

import (
	stdcrypto "crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
)

// AccountKey is an account's Ed25519 private key. It is a struct, not a
// byte slice, so it cannot be compared with == (which is not constant-time)
// or printed by accident.
type AccountKey struct {
	_ [0]func() // not comparable
	k ed25519.PrivateKey
}

// DeviceKey is a device's Ed25519 private key, which is also its libp2p host
// key. Like AccountKey it is opaque and not comparable.
type DeviceKey struct {
	_ [0]func() // not comparable
	k ed25519.PrivateKey
}

// newEd25519 makes a key from r (nil means crypto/rand).
func newEd25519(r io.Reader) (ed25519.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func ed25519FromSeed(seed []byte) (ed25519.PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// NewAccountKey makes a new account key from rand (nil means crypto/rand).
func NewAccountKey(rand io.Reader) (*AccountKey, error) {
	k, err := newEd25519(rand)
	if err != nil {
		return nil, fmt.Errorf("crypto.NewAccountKey: %w", err)
	}
	return &AccountKey{k: k}, nil
}

// AccountKeyFromSeed rebuilds an account key from its 32-byte seed.
func AccountKeyFromSeed(seed []byte) (*AccountKey, error) {
	k, err := ed25519FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("crypto.AccountKeyFromSeed: %w", err)
	}
	return &AccountKey{k: k}, nil
}

// Seed returns a copy of the 32-byte seed. It is secret: the caller should
// clear it when done.
func (k *AccountKey) Seed() []byte { return append([]byte(nil), k.k.Seed()...) }

// Public returns the account public key.
func (k *AccountKey) Public() ed25519.PublicKey { return k.k.Public().(ed25519.PublicKey) }

// ID returns the account ID of the key.
func (k *AccountKey) ID() AccountID { return AccountIDFromPublicKey(k.Public()) }

// Sign signs msg under a signing context with Ed25519ctx; see Sign.
func (k *AccountKey) Sign(context string, msg []byte) []byte { return signNoCheck(k.k, context, msg) }

// Signer returns a crypto.Signer for the key, for use with crypto/x509.
func (k *AccountKey) Signer() stdcrypto.Signer { return k.k }

// Wipe zeroes the key. The key must not be used afterwards.
func (k *AccountKey) Wipe() { clear(k.k) }

// NewDeviceKey makes a new device key from rand (nil means crypto/rand).
func NewDeviceKey(rand io.Reader) (*DeviceKey, error) {
	k, err := newEd25519(rand)
	if err != nil {
		return nil, fmt.Errorf("crypto.NewDeviceKey: %w", err)
	}
	return &DeviceKey{k: k}, nil
}

// DeviceKeyFromSeed rebuilds a device key from its 32-byte seed.
func DeviceKeyFromSeed(seed []byte) (*DeviceKey, error) {
	k, err := ed25519FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("crypto.DeviceKeyFromSeed: %w", err)
	}
	return &DeviceKey{k: k}, nil
}

// Seed returns a copy of the 32-byte seed. It is secret: the caller should
// clear it when done.
func (k *DeviceKey) Seed() []byte { return append([]byte(nil), k.k.Seed()...) }

// Public returns the device public key.
func (k *DeviceKey) Public() ed25519.PublicKey { return k.k.Public().(ed25519.PublicKey) }

// ID returns the device ID (libp2p peer ID) of the key.
func (k *DeviceKey) ID() DeviceID { return DeviceIDFromPublicKey(k.Public()) }

// Sign signs msg under a signing context with Ed25519ctx; see Sign.
func (k *DeviceKey) Sign(context string, msg []byte) []byte { return signNoCheck(k.k, context, msg) }

// Signer returns a crypto.Signer for the key, for use with crypto/x509.
func (k *DeviceKey) Signer() stdcrypto.Signer { return k.k }

// Ed25519 returns a copy of the 64-byte private key (seed || public key),
// for handing to libp2p's crypto.UnmarshalEd25519PrivateKey. It is secret:
// the caller should clear it when done.
func (k *DeviceKey) Ed25519() ed25519.PrivateKey { return append(ed25519.PrivateKey(nil), k.k...) }

// Wipe zeroes the key. The key must not be used afterwards.
func (k *DeviceKey) Wipe() { clear(k.k) }
