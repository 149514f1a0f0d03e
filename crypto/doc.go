// Package crypto holds Parley's identity primitives: account and device
// IDs, typed account and device keys, the X.509 account and device
// certificates and the account's CRL, passphrase sealing, the encrypted
// account archive, and domain-separated Ed25519 signatures. It depends only
// on the standard library, golang.org/x/crypto, base58 and
// filippo.io/edwards25519, so the CLI can
// import it without pulling in the network stack. docs/identity.md is the
// user-facing description of everything here.
//
// # Identifiers
//
// An account ID is SHA-256("parley account id v1" || 0x00 || accountPublicKey),
// written in bech32m (BIP-350) with human-readable part "parley":
//
//	parley1 <52 data characters> <6 check characters>
//
// bech32m detects every error that touches at most four characters, so a
// mistyped or transposed character is always caught. ParseAccountID ignores
// case, the prefix and common separators.
//
// A device ID is the libp2p peer ID of the device key (identity multihash
// of the protobuf public key, base58btc "12D3KooW…"), so a device's libp2p
// host key and its Parley identity are one key.
//
// # Certificates and revocation
//
// An account certificate is a self-signed Ed25519 CA certificate whose CN
// and URI SAN ("parley:account:<ID>") carry the account ID. A device
// certificate is an Ed25519 leaf signed by it, CN and URI SAN
// ("parley:device:<ID>") carrying the device ID and OU the device name.
// The account revokes devices with an X.509 v2 CRL whose CRL number only
// grows. VerifyDevice checks the whole chain.
//
// # Sealed files and archives
//
// Seal and Open protect small secrets with a passphrase; Archive.Encrypt
// and DecryptArchive use the same format with a different magic. Layout,
// integers big-endian:
//
//	offset size field
//	     0    8 magic: "PRLYSEAL" (Seal) or "PRLYARCH" (archive)
//	     8    1 version: 1
//	     9    4 argon2id time (passes), 1..64
//	    13    4 argon2id memory in KiB, 8*threads..1048576
//	    17    1 argon2id threads (lanes), ≥ 1
//	    18   16 salt (random)
//	    34   24 XChaCha20-Poly1305 nonce (random)
//	    58   32 passphrase verifier
//	    90    n ciphertext, then 16-byte Poly1305 tag
//
// argon2id(passphrase, salt, time, memory, threads) gives 64 bytes. The
// first 32 are the XChaCha20-Poly1305 key; verifier = SHA-256("parley
// verifier" || last 32). The AEAD's additional data is bytes 0..89, so the
// header cannot be changed undetected. A verifier mismatch is
// ErrWrongPassphrase; an AEAD failure after a matching verifier is
// ErrCorrupt. An archive's plaintext is JSON with "version": 1.
//
// # Signatures
//
// Sign and Verify use Ed25519ctx (RFC 8032) with a context string such as
// "parley/contact-request/v1", so a signature made for one purpose never
// verifies for another. SignEnvelope/OpenEnvelope wrap a payload with its
// context, signer and signature in a small binary envelope (see Envelope).
//
// # Key blinding
//
// BlindPublicKey, BlindPublicKeyKeyed and NewBlindedKey derive, from an
// Ed25519 key and a period number, a blinded key A' = h·A that signs
// ordinary Ed25519 and Ed25519ctx signatures (crypto/ed25519 verifies
// them) and that nobody without A (and, for the keyed form, the blinding
// secret) can link to A or to another period's A' (Tor rend-spec-v3
// appendix A.2). DHT records stored under blinded keys are therefore
// unlinkable across periods. The derivation is documented in blind.go and
// docs/protocol.md; testdata/blind_ref.py is an independent reference.
//
// Every public key that comes from outside (certificates, device IDs,
// envelope signers, Verify) and every key about to be certified passes
// CheckPublicKey: points of small order, under which anyone can forge
// signatures, and non-canonical encodings, which would give one key two
// IDs, are refused with ErrWeakKey.
package crypto
