// Package callproto is the message and key-agreement layer of Parley calls,
// without any networking: signed offer, answer and control messages, the
// hybrid X25519 + ML-KEM-768 key agreement, the HKDF key schedule that gives
// one SRTP master key and salt per direction and the short authentication
// string (SAS), the transcript, and a replay cache. docs/protocol.md ("Calls")
// is the full specification with a worked key-schedule vector.
//
// # Flow
//
//	caller                                   callee device(s)
//	NewCallerKeys, FillOffer, SignOffer
//	          ---- offer (same bytes to every device) ---->
//	                                         ParseOffer(WithRecipient, WithCRLLookup)
//	                                         ReplayCache.Check(CallID)
//	          <--- control "ringing" ----------------------
//	                                         CalleeAgree, SignAnswer
//	                                         CalleeSecrets.Finish(NewTranscript(offer, answer))
//	          <--- answer ---------------------------------
//	ParseAnswer, CallerKeys.Finish
//	          ---- control "confirm" (SAS nonce) -------->  (others: "answered-elsewhere")
//	                                         ParseControl, Keys.ConfirmSAS
//	          <--> control "candidate" … "hangup" <------->
//	          <--> control "ice-restart" / "ice-restart-reply" (network change)
//	Keys.Wipe                                Keys.Wipe
//
// # Messages
//
// Every message is a crypto signed envelope (crypto.SignEnvelope) signed by
// a device key under OfferContext, AnswerContext or ControlContext, at most
// MaxMessage bytes in all. Offers and answers carry the signer's account and
// device certificates; the receiver checks that the envelope signer is the
// device certificate's key and that the chain leads to the expected account
// (crypto.VerifyDevice, with a CRL when known). Every message carries a
// timestamp that must be within TimeWindow of the receiver's clock.
//
// # Payload encoding (version 1)
//
// Payloads are read and written with package internal/wire. Integers are
// big-endian; "uvarint" is a minimally encoded unsigned LEB128 varint; "str"
// and "bytes" are a uvarint length then the bytes. Nothing may
// follow the last field, every field is range-checked, and a payload must
// re-encode to itself, so each message has exactly one encoding.
//
//	header (all types):
//	  0x01                       1   payload version
//	  type                       1   1 offer, 2 answer, 3 control
//	  call ID                    16
//	  time                       8   int64 Unix milliseconds
//	offer:
//	  from, to                   32+32 account IDs
//	  account cert, device cert  bytes, bytes (1..MaxCertSize each)
//	  x25519                     32
//	  ML-KEM-768 encap key       1184
//	  SAS commit                 32
//	  session
//	answer:
//	  offer hash                 32  SHA-256 of the signed offer
//	  account cert, device cert  bytes, bytes
//	  x25519                     32
//	  ML-KEM-768 ciphertext      1088
//	  session
//	session:
//	  ICE ufrag, ICE pwd         str, str
//	  uvarint n                  1..MaxMedia
//	  n × media:  kind (1 audio, 2 video) 1, codec str, clock rate 4,
//	              channels 2, payload type 1, SSRC 4
//	control:
//	  control type               1   1 ringing, 2 decline, 3 busy, 4 cancel,
//	                                 5 hangup, 6 answered-elsewhere,
//	                                 7 candidate, 8 end-of-candidates,
//	                                 9 error, 10 confirm,
//	                                 11 ice-restart, 12 ice-restart-reply
//	  reason                     str (0..MaxReasonLen)
//	  candidate                  str, only for type 7
//	  code                       2,   only for type 9
//	  SAS nonce                  32,  only for type 10
//	  ICE ufrag, ICE pwd         str, str, only for types 11 and 12
//	  generation                 4,   only for types 11 and 12 (1..2^32-1)
//
// # Keys
//
//	ikm       = X25519 shared (32) || ML-KEM-768 shared (32)
//	prk       = HKDF-Extract(SHA-256, salt = transcript, ikm)
//	c→c, c←c  = HKDF-Expand(prk, "parley call v1 caller->callee srtp" / "…callee->caller srtp", 28)
//	            = SRTP master key (16) || master salt (12), AEAD_AES_128_GCM
//	sas key   = HKDF-Expand(prk, "parley call v1 sas", 32)
//	SAS       = HMAC-SHA-256(sas key, nonce)[0:8] as uint64 mod 10^6, "ddd ddd"
//
// The transcript is SHA-256(len64(offer) || offer || len64(answer) ||
// answer) over the exact signed bytes. The caller's SAS nonce is committed
// in the offer (SHA-256("parley call v1 sas commit" || nonce)) and revealed
// in the "confirm" control message only after the answer is fixed, so
// neither side can search for key shares that give a chosen SAS: an attacker
// in the middle matches the two SASes with probability 10^-6 per call.
//
// # Forward secrecy
//
// CallerKeys and CalleeSecrets hold their secrets as plain byte arrays and
// wipe them as soon as the keys are derived; Keys.Wipe zeroes the SRTP keys
// when the call ends.
package callproto
