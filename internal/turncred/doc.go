// Package turncred defines the protocol through which a Parley device gets
// short-lived TURN credentials from a bootstrap server, and the TURN REST
// credential form they take: the protocol ID, the wire format, the username
// form, and the client side (Request) that nodes use. The issuing side is
// package bootstrap/turncred; the TURN server that checks the credentials is
// bootstrap/turnsrv. Both import this package, and a node imports only this
// one, so parleyd links no server code.
//
// # Protocol
//
// A device opens a stream for protocol ID ("/parley/turn-cred/1.0.0") to a
// bootstrap, sends its account certificate and device certificate, and
// closes its write side. The bootstrap checks that the device certificate
// is a valid certificate of that account at the current time
// (crypto.VerifyDevice) and that it names the device at the other end of
// the stream, whose peer ID the libp2p security handshake (Noise or TLS)
// has already authenticated. A stolen certificate is therefore useless
// without the device key. Only then are requests rate-limited per device,
// so garbage never takes a rate limiter's place. Then the bootstrap fetches
// the account's record from the DHT (its own store first) and refuses a
// device its CRL revokes, and any device of an account that has no record;
// it remembers the verdict for a few minutes (bootstrap/turncred
// DefaultCheckTTL), so a revoked device gets no credentials once that time
// has passed after its CRL reached the DHT. The answer is a TURN REST
// credential, which any TURN server sharing the secret (the built-in one or
// coturn with use-auth-secret) accepts until its expiry, plus the TURN and
// STUN URLs to use it with.
//
// # Credentials (TURN REST, draft-uberti-behave-turn-rest-00)
//
//	username = "<expiry>:<token>"
//	password = base64(HMAC-SHA1(secret, username))
//
// expiry is a Unix time in seconds in canonical decimal (no sign, no leading
// zeros); token is an opaque string, printable ASCII without spaces (it may
// contain ':'; the username is split at the first one). The bootstrap makes
// it 16 random bytes in unpadded base64url, new for every credential, and
// keeps which device it went to (bootstrap/turnsrv Tokens): STUN sends the
// username in clear, so it must not name the device or its account (before
// issue 18 it was the device ID). coturn's use-auth-secret checks only the
// expiry and the password, so it accepts these usernames unchanged. The
// whole username is at most MaxUsernameLen bytes. See FormatUsername,
// ParseUsername and Password.
//
// # Wire format (version 1)
//
// Messages are read and written with package internal/wire. "uvarint" is a
// minimally encoded unsigned LEB128 varint; strings are UTF-8. A request is
// at most MaxRequestSize bytes and a response at most MaxResponseSize bytes;
// each side reads the other's message to the end of the stream, and nothing
// may follow the last field.
//
// Request (device → bootstrap), then the device closes its write side:
//
//	0x01                       version
//	uvarint len, bytes         account certificate DER (1..MaxRequestSize)
//	uvarint len, bytes         device certificate DER (1..MaxRequestSize)
//
// Response (bootstrap → device), then the bootstrap closes the stream:
//
//	0x01                       version
//	status                     1 byte: 0 = OK, else an error code
//	if status is 0:
//	  uvarint len, username    TURN REST username, at most MaxUsernameLen
//	  uvarint len, password    TURN REST password, 1..MaxMessageLen
//	  uvarint n                number of URLs, at most MaxURLs
//	  n × (uvarint len, url)   "turn:host:port?transport=udp", "stun:host:port", ...
//	                           each at most MaxURLLen
//	else:
//	  uvarint len, message     human-readable reason, at most MaxMessageLen
//
// e.g. "rate limited, slow down" is 01 04 09 73 6c 6f 77 20 64 6f 77 6e.
//
// The expiry of the credentials is the one in the username. Error codes:
// 1 bad request, 2 certificate chain refused (also: device revoked, or no
// account record), 3 certificate of another device, 4 rate limited (also:
// the server is busy with other lookups), 5 server error (also: the account
// record lookup failed) (see the sentinel errors of the
// same meaning). The server resets the stream instead of answering when
// reading the request fails or its deadline passes.
package turncred
