package crypto

import (
	"crypto/ed25519"
	"fmt"
	"math/big"
	"slices"
)

// Go's crypto/ed25519 verifies signatures under any 32 bytes that decode to
// a point, including points of small order and non-canonical encodings. A
// small-order key is a key nobody holds: under the identity point (and,
// with a little search, under the other seven torsion points) the
// "signature" R = a torsion point, S = 0 verifies for any message. A
// non-canonical encoding is a second spelling of a key, so a second account
// or device ID for it. CheckPublicKey refuses both; every place where a
// public key enters from outside (certificates, device IDs, link codes,
// envelopes, Verify) and where one is certified calls it.

// Curve constants of edwards25519 (RFC 8032 §5.1): -x² + y² = 1 + d·x²·y²
// over GF(p).
var (
	curveP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	curveD = func() *big.Int {
		// d = -121665 / 121666 mod p
		d := new(big.Int).ModInverse(big.NewInt(121666), curveP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, curveP)
	}()
	// torsionY are the y-coordinates of the eight points of small order:
	// 1 (the identity), p-1 (order 2), 0 (the two points of order 4), and
	// ±y8 (the four of order 8; both signs of x for each).
	torsionY = func() []*big.Int {
		y8, _ := new(big.Int).SetString("2707385501144840649318225287225658788936804267575313519463743609750303402022", 10)
		return []*big.Int{
			big.NewInt(1),
			new(big.Int).Sub(curveP, big.NewInt(1)),
			big.NewInt(0),
			y8,
			new(big.Int).Sub(curveP, y8),
		}
	}()
)

// CheckPublicKey reports whether pub is an Ed25519 public key Parley
// trusts from outside: 32 bytes, the canonical encoding (RFC 8032 §5.1.3:
// y < p, and no "negative zero" x) of a point on the curve, and not one of
// the eight points of small order. Errors wrap ErrInvalidKey for a wrong
// length and ErrWeakKey otherwise. Public keys are public, so the check
// need not be constant-time.
func CheckPublicKey(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("crypto.CheckPublicKey: %w: public key is %d bytes", ErrInvalidKey, len(pub))
	}
	if err := checkPoint(pub); err != nil {
		return fmt.Errorf("crypto.CheckPublicKey: %w: %s", ErrWeakKey, err)
	}
	return nil
}

// checkPoint does what RFC 8032 §5.1.3 decoding does, minus computing x,
// and refuses points of small order. It returns a plain reason.
func checkPoint(enc []byte) error {
	be := slices.Clone(enc)
	sign := be[31] >> 7
	be[31] &= 0x7f
	slices.Reverse(be) // big.Int reads big-endian
	y := new(big.Int).SetBytes(be)
	if y.Cmp(curveP) >= 0 {
		return fmt.Errorf("non-canonical encoding (y ≥ p)")
	}
	// x² = u/v with u = y² - 1, v = d·y² + 1 (never 0: d is not a
	// square). u/v is a square exactly when u·v is, so no inversion.
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, curveP)
	v := y2.Mul(y2, curveD)
	v.Add(v, big.NewInt(1))
	switch uv := u.Mul(u, v).Mod(u, curveP); {
	case big.Jacobi(uv, curveP) < 0:
		return fmt.Errorf("not a point on the curve")
	case uv.Sign() == 0 && sign == 1:
		return fmt.Errorf("non-canonical encoding (negative zero)")
	}
	for _, ty := range torsionY {
		if y.Cmp(ty) == 0 {
			return fmt.Errorf("point of small order")
		}
	}
	return nil
}
