package calltransport

import "fmt"

// maxSendSSRCs bounds the SSRCs one Media encrypts under; each needs its
// index remembered for as long as the keys live.
const maxSendSSRCs = 256

// sendIndex decides the SRTP index (RFC 3711 §3.3.1: ROC << 16 | sequence
// number) of every RTP packet a Media encrypts, and refuses any index not
// strictly above the last one used on the same SSRC. The index is the
// nonce: with AES-GCM (RFC 7714) two packets sealed under one index and
// key give away the XOR of their plaintexts and the GHASH key, which
// forges packets; with AES-CM they share keystream. pion/srtp guesses the
// ROC itself and encrypts a repeated or older sequence number under an
// index it has used before, so Media pins the ROC decided here before each
// encryption (srtp.Context.SetROC) and never lets pion guess.
//
// Owned by the holder of Media.wmu.
type sendIndex struct {
	last map[uint32]uint64 // highest index used per SSRC
}

// next returns the index for sequence number seq on ssrc: the RFC 3711
// §3.3.1 estimate relative to the highest index used so far (the one of
// the three candidate ROCs that puts seq closest to it; a first packet
// gets ROC 0). It fails with ErrStaleIndex when that index is not above
// the highest one, and when the index space is exhausted.
func (s *sendIndex) next(ssrc uint32, seq uint16) (uint64, error) {
	last, seen := s.last[ssrc]
	if !seen {
		if len(s.last) >= maxSendSSRCs {
			return 0, fmt.Errorf("%w: more than %d sending SSRCs", ErrBadPacket, maxSendSSRCs)
		}
		return uint64(seq), nil
	}
	idx := estimateIndex(last, seq)
	switch {
	case idx <= last:
		return 0, fmt.Errorf("%w: SSRC %08x sequence number %d is index %#x, last sent %#x", ErrStaleIndex, ssrc, seq, idx, last)
	case idx > maxSRTPIndex:
		return 0, fmt.Errorf("%w: SSRC %08x: all 2^48 indexes used, rekey", ErrStaleIndex, ssrc)
	}
	return idx, nil
}

// commit records idx as used on ssrc. Media calls it before encrypting,
// so an index is spent even when encryption then fails.
func (s *sendIndex) commit(ssrc uint32, idx uint64) {
	if s.last == nil {
		s.last = make(map[uint32]uint64)
	}
	s.last[ssrc] = idx
}

// estimateIndex is RFC 3711 Appendix A: the index of seq whose ROC is
// last's ROC - 1, the same or + 1, whichever lands nearest to last. A ROC
// of -1 is not an index; then ROC 0 is used, as pion/srtp does, which puts
// the packet ahead of last.
func estimateIndex(last uint64, seq uint16) uint64 {
	const half = 1 << 15
	roc, lastSeq := last>>16, uint16(last)
	switch {
	case lastSeq < half && int(seq)-int(lastSeq) > half && roc > 0:
		roc--
	case lastSeq >= half && int(lastSeq)-half > int(seq):
		roc++
	}
	return roc<<16 | uint64(seq)
}
