package calltransport

import (
	"crypto/subtle"
	"fmt"
	"log/slog"

	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/replaydetector"
)

// DefaultProfile is the SRTP protection profile used when [Leg.StartMedia]
// is given the zero profile: AEAD_AES_128_GCM (RFC 7714).
const DefaultProfile = srtp.ProtectionProfileAeadAes128Gcm

// Replay windows, in packets. SRTP's is wide because video sends bursts
// that a network may reorder; RFC 3711 asks for at least 64.
const (
	srtpReplayWindow  = 1024
	srtcpReplayWindow = 128

	maxSRTPIndex  = 1<<48 - 1 // 32-bit ROC and 16-bit sequence number
	maxSRTCPIndex = 1<<31 - 1
)

// Keys are the SRTP master keys and salts of one leg, agreed end to end by
// the call's key exchange: one key and salt per direction. Local is what
// this side encrypts with, Remote what the peer encrypts with (this side's
// Remote is the peer's Local). For AEAD_AES_128_GCM keys are 16 bytes and
// salts 12; for AES-256-GCM 32 and 12; for the AES-CM profiles 16 or 32 and
// 14.
//
// [Leg.StartMedia] copies what it needs and keeps no reference to the
// slices, so the caller may wipe them afterwards. Keys never print their
// contents (see [Keys.String]).
type Keys struct {
	LocalKey, RemoteKey   []byte
	LocalSalt, RemoteSalt []byte
}

// String keeps key material out of logs and %v output.
func (Keys) String() string { return "calltransport.Keys{[redacted]}" }

// LogValue keeps key material out of slog output.
func (Keys) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// checkProfile maps the zero profile to DefaultProfile and refuses profiles
// Parley does not use.
func checkProfile(p srtp.ProtectionProfile) (srtp.ProtectionProfile, error) {
	switch p {
	case 0:
		return DefaultProfile, nil
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm,
		srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.ProtectionProfileAes256CmHmacSha1_80:
		return p, nil
	}
	return 0, fmt.Errorf("%w: %v", ErrUnsupportedProfile, p)
}

// check validates key and salt lengths for profile p and refuses a key used
// in both directions, which would let the two directions share keystream
// when their SSRCs collide.
func (k Keys) check(p srtp.ProtectionProfile) error {
	keyLen, err := p.KeyLen()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupportedProfile, err)
	}
	saltLen, err := p.SaltLen()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupportedProfile, err)
	}
	if len(k.LocalKey) != keyLen || len(k.RemoteKey) != keyLen {
		return fmt.Errorf("%w: keys must be %d bytes for %v", ErrBadKeys, keyLen, p)
	}
	if len(k.LocalSalt) != saltLen || len(k.RemoteSalt) != saltLen {
		return fmt.Errorf("%w: salts must be %d bytes for %v", ErrBadKeys, saltLen, p)
	}
	if subtle.ConstantTimeCompare(k.LocalKey, k.RemoteKey) == 1 {
		return fmt.Errorf("%w: local and remote key are equal", ErrBadKeys)
	}
	return nil
}

// replayWatch records that a replay detector refused a packet, so the read
// loop can tell a replay from other decryption failures: pion/srtp's
// duplicate error is not exported. Owned by the goroutine that decrypts.
type replayWatch struct {
	hit bool
}

// watchedDetector is a replay detector that reports refusals to a
// replayWatch. It deliberately implements only Check, not the newer
// CheckAccepter, so pion/srtp calls Check.
type watchedDetector struct {
	d replaydetector.ReplayDetector
	w *replayWatch
}

func (d watchedDetector) Check(seq uint64) (accept func() bool, ok bool) {
	accept, ok = d.d.Check(seq)
	if !ok {
		d.w.hit = true
	}
	return accept, ok
}

// newContexts creates the encrypting context (local key) and the decrypting
// context (remote key, replay protection on, refusals reported to w).
func newContexts(k Keys, p srtp.ProtectionProfile, w *replayWatch) (enc, dec *srtp.Context, err error) {
	enc, err = srtp.CreateContext(k.LocalKey, k.LocalSalt, p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadKeys, err)
	}
	dec, err = srtp.CreateContext(k.RemoteKey, k.RemoteSalt, p,
		srtp.SRTPReplayDetectorFactory(func() replaydetector.ReplayDetector {
			return watchedDetector{d: replaydetector.New(srtpReplayWindow, maxSRTPIndex), w: w}
		}),
		srtp.SRTCPReplayDetectorFactory(func() replaydetector.ReplayDetector {
			return watchedDetector{d: replaydetector.New(srtcpReplayWindow, maxSRTCPIndex), w: w}
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadKeys, err)
	}
	return enc, dec, nil
}

// overheads returns the smallest possible SRTP and SRTCP packets for p
// beyond the RTP header: the SRTP auth tag, and the RTCP header, tag and
// SRTCP index.
func overheads(p srtp.ProtectionProfile) (rtpTag, rtcpMin int, err error) {
	aead, err := p.AEADAuthTagLen()
	if err != nil {
		return 0, 0, err
	}
	rtpAuth, err := p.AuthTagRTPLen()
	if err != nil {
		return 0, 0, err
	}
	rtcpAuth, err := p.AuthTagRTCPLen()
	if err != nil {
		return 0, 0, err
	}
	const rtcpHeader, srtcpIndex = 8, 4
	return aead + rtpAuth, rtcpHeader + aead + srtcpIndex + rtcpAuth, nil
}

// GoString keeps key material out of %#v output.
func (Keys) GoString() string { return "calltransport.Keys{[redacted]}" }
