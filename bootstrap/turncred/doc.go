// Package turncred is the libp2p protocol through which a bootstrap server
// issues short-lived TURN credentials to Parley devices.
//
// A device opens a stream for protocol ID ("/parley/turn-cred/1.0.0") to a
// bootstrap, sends its account certificate and device certificate, and
// closes its write side. The bootstrap checks that the device certificate
// is a valid certificate of that account at the current time
// (crypto.VerifyDevice) and that it names the device at the other end of
// the stream, whose peer ID the libp2p security handshake (Noise or TLS)
// has already authenticated. A stolen certificate is therefore useless
// without the device key. Requests are rate-limited per device with a
// token bucket. The answer is a TURN REST credential (see package
// bootstrap/turnsrv): username "<expiry>:<deviceID>", password
// base64(HMAC-SHA1(secret, username)), which any TURN server sharing the
// secret (the built-in one or coturn with use-auth-secret) accepts until the
// expiry, plus the TURN and STUN URLs to use it with.
//
// The bootstrap cannot check revocation here: the request carries no CRL, so
// a revoked device can still obtain TURN credentials until its certificate
// expires. TURN only relays encrypted media, so this costs the operator
// bandwidth, not a user's privacy.
//
// # Wire format (version 1)
//
// "uvarint" is a minimally encoded unsigned LEB128 varint; strings are
// UTF-8. A request is at most MaxRequestSize bytes and a response at most
// MaxResponseSize bytes; nothing may follow the last field.
//
// Request (device → bootstrap), then the device closes its write side:
//
//	0x01                       version
//	uvarint len, bytes         account certificate DER
//	uvarint len, bytes         device certificate DER
//
// Response (bootstrap → device), then the bootstrap closes the stream:
//
//	0x01                       version
//	status                     1 byte: 0 = OK, else an error code
//	if status is 0:
//	  uvarint len, username    TURN REST username
//	  uvarint len, password    TURN REST password
//	  uvarint n                number of URLs, at most MaxURLs
//	  n × (uvarint len, url)   "turn:host:port?transport=udp", "stun:host:port", ...
//	else:
//	  uvarint len, message     human-readable reason, at most 256 bytes
//
// The expiry of the credentials is the one in the username. Error codes:
// 1 bad request, 2 certificate chain refused, 3 certificate of another
// device, 4 rate limited, 5 server error (see the sentinel errors of the
// same meaning). The server resets the stream instead of answering when
// reading the request fails or its deadline (10 s) passes.
package turncred
