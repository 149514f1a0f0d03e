package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// KDFParams are the argon2id cost parameters used to turn a passphrase into
// a key. They are stored in the header of every sealed file, so a file sealed
// with one set of parameters opens with any build.
type KDFParams struct {
	// Time is the number of argon2id passes. 1 ≤ Time ≤ MaxKDFTime.
	Time uint32
	// MemoryKiB is the memory cost in KiB. 8*Threads ≤ MemoryKiB ≤ MaxKDFMemoryKiB.
	MemoryKiB uint32
	// Threads is the argon2id parallelism (lanes). At least 1.
	Threads uint8
}

// DefaultKDFParams are the parameters for real passphrases: the second
// recommended option of RFC 9106 §4 (t=3, m=64 MiB, p=4), which takes a
// fraction of a second on a current machine and is usable on phones.
var DefaultKDFParams = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// TestKDFParams are deliberately cheap parameters for tests ONLY. A passphrase
// sealed with them is trivially brute-forced; never use them for real data.
var TestKDFParams = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Bounds on KDF parameters accepted from a file, so that a hostile file can
// neither exhaust memory nor keep the CPU busy for hours.
const (
	MaxKDFMemoryKiB = 1024 * 1024 // 1 GiB
	MaxKDFTime      = 64
)

// Sealed-file layout (all integers big-endian):
//
//	off  len  field
//	  0    8  magic "PRLYSEAL" ("PRLYARCH" for archives)
//	  8    1  version = 1
//	  9    4  argon2id time
//	 13    4  argon2id memory (KiB)
//	 17    1  argon2id threads
//	 18   16  salt
//	 34   24  XChaCha20-Poly1305 nonce
//	 58   32  passphrase verifier
//	 90    …  ciphertext || 16-byte Poly1305 tag
//
// argon2id(passphrase, salt, time, memory, threads) yields 64 bytes; the
// first 32 are the AEAD key, and verifier = SHA-256("parley verifier" ||
// last 32). The additional data of the AEAD is bytes 0..90 (header and
// verifier).
const (
	sealVersion    = 1
	sealSaltLen    = 16
	sealNonceLen   = chacha20poly1305.NonceSizeX
	sealVerLen     = 32
	sealHeaderLen  = 8 + 1 + 4 + 4 + 1 + sealSaltLen + sealNonceLen // 58
	sealPrefixLen  = sealHeaderLen + sealVerLen                     // 90
	sealOverhead   = sealPrefixLen + chacha20poly1305.Overhead
	sealVerifierDS = "parley verifier"
)

const (
	magicSeal    = "PRLYSEAL"
	magicArchive = "PRLYARCH"
)

func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxKDFTime:
		return fmt.Errorf("%w: time %d not in [1, %d]", ErrInvalidKDFParams, p.Time, MaxKDFTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be at least 1", ErrInvalidKDFParams)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxKDFMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in [%d, %d]", ErrInvalidKDFParams,
			p.MemoryKiB, 8*uint32(p.Threads), MaxKDFMemoryKiB)
	}
	return nil
}

// Seal encrypts plaintext under passphrase. The result is self-describing
// (see the package documentation for the byte layout) and is opened with Open.
func Seal(passphrase, plaintext []byte, p KDFParams) ([]byte, error) {
	out, err := sealRandom(magicSeal, passphrase, plaintext, p)
	if err != nil {
		return nil, fmt.Errorf("crypto.Seal: %w", err)
	}
	return out, nil
}

// Open decrypts data made by Seal. It returns ErrWrongPassphrase when the
// passphrase does not match, ErrCorrupt when the data is truncated or was
// modified, and ErrUnsupportedVersion for an unknown format version.
func Open(passphrase, sealed []byte) ([]byte, error) {
	pt, err := open(magicSeal, passphrase, sealed)
	if err != nil {
		return nil, fmt.Errorf("crypto.Open: %w", err)
	}
	return pt, nil
}

// sealRandom seals with a fresh random salt and nonce.
func sealRandom(magic string, passphrase, plaintext []byte, p KDFParams) ([]byte, error) {
	var salt [sealSaltLen]byte
	var nonce [sealNonceLen]byte
	if _, err := io.ReadFull(rand.Reader, salt[:]); err != nil {
		return nil, fmt.Errorf("read random salt: %w", err)
	}
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return seal(magic, passphrase, plaintext, p, salt, nonce)
}

// seal is the deterministic core of Seal; tests call it with a fixed salt
// and nonce to produce known-answer vectors.
func seal(magic string, passphrase, plaintext []byte, p KDFParams, salt [sealSaltLen]byte, nonce [sealNonceLen]byte) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	out := make([]byte, sealPrefixLen, sealOverhead+len(plaintext))
	copy(out, magic)
	out[8] = sealVersion
	binary.BigEndian.PutUint32(out[9:], p.Time)
	binary.BigEndian.PutUint32(out[13:], p.MemoryKiB)
	out[17] = p.Threads
	copy(out[18:], salt[:])
	copy(out[34:], nonce[:])

	key, verifier := deriveSealKeys(passphrase, salt[:], p)
	defer clear(key)
	copy(out[sealHeaderLen:], verifier[:])
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("new AEAD: %w", err)
	}
	return aead.Seal(out, nonce[:], plaintext, out[:sealPrefixLen]), nil
}

// open parses and decrypts a sealed blob with the given magic.
func open(magic string, passphrase, data []byte) ([]byte, error) {
	if len(data) < 9 {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrCorrupt, len(data))
	}
	if string(data[:8]) != magic {
		return nil, fmt.Errorf("%w: not a %s file (bad magic)", ErrCorrupt, magic)
	}
	if data[8] != sealVersion {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupportedVersion, data[8])
	}
	if len(data) < sealOverhead {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrCorrupt, len(data))
	}
	p := KDFParams{
		Time:      binary.BigEndian.Uint32(data[9:]),
		MemoryKiB: binary.BigEndian.Uint32(data[13:]),
		Threads:   data[17],
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	salt, nonce := data[18:34], data[34:sealHeaderLen]

	key, verifier := deriveSealKeys(passphrase, salt, p)
	defer clear(key)
	if subtle.ConstantTimeCompare(verifier[:], data[sealHeaderLen:sealPrefixLen]) != 1 {
		return nil, ErrWrongPassphrase
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("new AEAD: %w", err)
	}
	pt, err := aead.Open(nil, nonce, data[sealPrefixLen:], data[:sealPrefixLen])
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return pt, nil
}

// deriveSealKeys runs argon2id and splits its output into the AEAD key
// (which the caller must clear) and the passphrase verifier.
func deriveSealKeys(passphrase, salt []byte, p KDFParams) (key []byte, verifier [32]byte) {
	okm := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, 64)
	h := sha256.New()
	h.Write([]byte(sealVerifierDS))
	h.Write(okm[32:])
	h.Sum(verifier[:0])
	clear(okm[32:])
	return okm[:32], verifier
}
