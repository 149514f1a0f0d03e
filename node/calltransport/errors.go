package calltransport

import "errors"

// ErrClosed is returned by operations on a [Leg] or [Media] that has been
// closed, and by [Media.ReadRTP] and [Media.ReadRTCP] once the media is
// closed.
var ErrClosed = errors.New("closed")

// ErrAlreadyStarted is returned by [Leg.Start] when the leg was started
// before, and by [Leg.StartMedia] when media was started before: a leg has
// one ICE session and one SRTP session, because restarting SRTP with the same
// keys would reuse nonces.
var ErrAlreadyStarted = errors.New("already started")

// ErrNotStarted is returned by [Leg.StartMedia] before [Leg.Start].
var ErrNotStarted = errors.New("not started")

// ErrFailed is returned by [Leg.WaitConnected] when ICE gave up: no
// candidate pair worked within the failed timeout, the selected pair stopped
// answering, or the context passed to [Leg.Start] ended before the leg
// connected.
var ErrFailed = errors.New("ICE failed")

// ErrBadConfig is returned by [NewLeg] for a [Config] it cannot use; the
// message says which field.
var ErrBadConfig = errors.New("bad config")

// ErrBadServer is returned by [NewLeg] for an [ICEServer] whose URL does not
// parse or has no credentials where TURN needs them.
var ErrBadServer = errors.New("bad ICE server")

// ErrBadCredentials is returned for ICE credentials that are not RFC 8839
// ice-chars of the allowed length (ufrag 4 to 256, password 22 to 256).
var ErrBadCredentials = errors.New("bad ICE credentials")

// ErrBadCandidate is returned by [Leg.AddRemoteCandidate] for a candidate
// string that does not parse or that the leg refuses (see
// [Leg.AddRemoteCandidate] for the rules).
var ErrBadCandidate = errors.New("bad candidate")

// ErrTooManyCandidates is returned by [Leg.AddRemoteCandidate] once the
// remote side has trickled [MaxRemoteCandidates] candidates.
var ErrTooManyCandidates = errors.New("too many remote candidates")

// ErrBadKeys is returned by [Leg.StartMedia] for keys or salts of the wrong
// length for the profile, or when the local and remote keys are equal.
var ErrBadKeys = errors.New("bad SRTP keys")

// ErrUnsupportedProfile is returned by [Leg.StartMedia] for an SRTP
// protection profile Parley does not use (the NULL profiles, the 32-bit tag
// profiles and unknown values).
var ErrUnsupportedProfile = errors.New("unsupported SRTP profile")

// ErrPayloadTypeConflict is returned by [Media.WriteRTP] for payload types 64
// to 95: with RTP and RTCP on one transport they would be taken for RTCP
// (RFC 5761 section 4).
var ErrPayloadTypeConflict = errors.New("RTP payload type conflicts with RTCP")

// ErrStaleIndex is returned by [Media.WriteRTP] for a packet whose SRTP
// index (rollover counter and sequence number, RFC 3711 §3.3.1) is not
// above the last one sent on its SSRC: a repeated or older sequence
// number. Encrypting it would reuse a nonce (AES-GCM) or keystream
// (AES-CM) under the same key. The packet is dropped, not sent; the
// stream goes on with the next higher sequence number.
var ErrStaleIndex = errors.New("SRTP index not above the last one sent")

// ErrBadPacket is returned by [Media.WriteRTP] and [Media.WriteRTCP] for a
// nil or empty packet, or one that does not marshal.
var ErrBadPacket = errors.New("bad packet")
