// Package turncred is the issuing side of the TURN credential protocol: a
// bootstrap server's Issuer answers devices' requests with short-lived TURN
// REST credentials.
//
// The protocol itself (its ID, wire format, username form and the client
// that nodes use) is package internal/turncred, which this package and the
// TURN server (bootstrap/turnsrv) import and nodes import alone.
//
// The Issuer checks, in this order, before it keeps any state for the
// sender: that the request decodes, that the device certificate in it is
// a valid certificate of the account in it at the current time
// (crypto.VerifyDevice), and that it names the device at the other end of
// the stream, whose peer ID the libp2p security handshake has already
// authenticated. Then it rate-limits requests per device with a token
// bucket (RatePerMinute, also the burst), keeping at most 4096 buckets and
// forgetting the least recently used one to make room, so a flood of
// devices never locks a newcomer out. Then it checks the account's record
// (Accounts, from the DHT, with its CRL): a device the CRL revokes, or a
// device of an account with no record, is refused. Verdicts are cached per
// device (8192 at most, least recently used forgotten) for CheckTTL, or
// NegativeCheckTTL for refusals; at most 16 lookups run at once, and a
// request that would need another is refused as rate limited. It answers
// with credentials valid for TTL, made with turnsrv.Credentials from the
// shared secret and a random token per credential (turnsrv.Tokens remembers
// the device; the username never names it). A refusal because the CRL
// revokes the device also revokes the tokens issued to it before, for the
// TURN server sharing the table. The credentials are TURN REST ones made
// from the shared secret, so any TURN server sharing that secret (the built-in one
// or coturn with use-auth-secret) accepts them. It resets the stream instead
// of answering when reading the request fails or RequestTimeout passes.
package turncred
