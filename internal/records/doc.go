// Package records defines Parley's DHT records and the kad-dht validators
// shared by nodes and bootstrap servers.
//
// There are two kinds of record, each under its own DHT namespace:
//
//   - the account record, key "/parley-acct/" + the 32 raw account ID bytes:
//     the account certificate, the certificates of the account's current
//     devices and the account's newest CRL, signed by the account key;
//   - the device presence record, key "/parley-dev/" + the raw device ID
//     (multihash) bytes: the device's account and current addresses,
//     including relay addresses, signed by the device key.
//
// Each has a blinded form (blinded.go, period.go), under a key that changes
// every period (UTC day) and that only someone who knows the account's
// public key (account record) or holds its presence key (presence record)
// can compute: "/parley-bacct/" + the blinded account key, "/parley-bpres/"
// + the blinded device key. The record inside is sealed; validators check
// the blinded signature, bounds, period and expiry without knowing whose
// record it is (docs/protocol.md, "Blinded records").
//
// Every record is a crypto signed envelope (see crypto.SignEnvelope) whose
// payload carries a sequence number and an expiry. The validators accept a
// record only if it is well formed and small, signed by the key the DHT key
// names, not expired and not expiring more than MaxTTL (plus one minute of
// clock skew) from now; account records must also hold a valid certificate
// chain for every listed device. Among valid records for one key, Select
// prefers the highest sequence number, then the latest expiry, then the
// greatest raw bytes, so every DHT server makes the same choice and a stale
// record never replaces a newer one.
//
// # Payload encoding (version 1)
//
// Payloads are read and written with package internal/wire. All integers
// are big-endian; "uvarint" is a minimally encoded unsigned LEB128 varint
// (encoding/binary). Every length is bounded (MaxCertSize, MaxCRLSize,
// MaxAddrLen) before its field is read. Nothing may follow the last field,
// and a payload must re-encode to itself, so it has exactly one encoding.
//
// Account record payload (envelope context "parley/account-record/v1"):
//
//	0x01                        1 byte  payload version
//	seq                         8 bytes uint64
//	expires                     8 bytes int64 Unix seconds
//	uvarint len, cert           account certificate DER, len ≤ MaxCertSize
//	uvarint n                   number of devices, 0..MaxDevices
//	n × (uvarint len, cert)     device certificate DER, len ≤ MaxCertSize
//	uvarint len, crl            CRL DER, len ≤ MaxCRLSize; 0 = no CRL
//
// Presence record payload (envelope context "parley/presence/v1"):
//
//	0x01                        1 byte   payload version
//	seq                         8 bytes  uint64
//	expires                     8 bytes  int64 Unix seconds
//	account                     32 bytes account ID (not zero)
//	uvarint n                   number of addresses, 0..MaxAddrs
//	n × (uvarint len, addr)     binary multiaddr, len ≤ MaxAddrLen
//
// The device of a presence record is not in the payload: it is the device ID
// of the envelope's signer, which must equal the device ID in the DHT key.
// The account named by a presence record is only a claim; a caller trusts it
// after finding the device in that account's record.
package records
