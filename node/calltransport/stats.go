package calltransport

import "time"

// Stats are a [Media]'s counters and RTCP-derived figures.
type Stats struct {
	// PacketsSent and BytesSent count RTP packets sent, and their size
	// on the wire (SRTP, with header and tag).
	PacketsSent, BytesSent uint64
	// PacketsReceived and BytesReceived count RTP packets that
	// decrypted, and their SRTP size, whether or not a reader has taken
	// them yet.
	PacketsReceived, BytesReceived uint64
	// RTCPSent and RTCPReceived count compound SRTCP packets.
	RTCPSent, RTCPReceived uint64
	// SendRefused counts RTP packets WriteRTP refused to encrypt because
	// their SRTP index was not above the last one sent on their SSRC
	// (see ErrStaleIndex).
	SendRefused uint64

	// Dropped counts what arrived on the ICE connection and was not
	// delivered, by reason.
	Dropped DropStats

	// FirstSent and FirstReceived are when the first RTP packet was sent
	// and the first one decrypted; zero until then.
	FirstSent, FirstReceived time.Time
	// LastReceived is when the last RTP or RTCP packet decrypted; zero
	// until one did. A call watches it to notice that its path went
	// silent (see Leg.Restart).
	LastReceived time.Time

	// RTT is the latest round-trip time computed from a reception report
	// about one of our SSRCs (now - LSR - DLSR, RFC 3550 6.4.1), in
	// 1/65536 s resolution; RTTSamples counts such computations (RTT is
	// meaningless while it is 0). Only a side that sends RTP sends sender
	// reports, so only such a side learns the RTT.
	RTT        time.Duration
	RTTSamples uint64

	// PacketsLost, FractionLost and Jitter are this side's view of the
	// remote streams: cumulative packets lost (RFC 3550 A.3; negative
	// with duplicates) summed over remote SSRCs, the largest fraction
	// lost in the last reported interval (0 to 1), and the largest
	// interarrival jitter (A.8) over the remote SSRCs whose clock rate is
	// known (see Config.ClockRates).
	PacketsLost  int64
	FractionLost float64
	Jitter       time.Duration

	// RemotePacketsLost, RemoteFractionLost and RemoteJitter are what
	// the peer last reported about our stream in RTCP.
	RemotePacketsLost  int64
	RemoteFractionLost float64
	RemoteJitter       time.Duration
}

// DropStats counts dropped packets by reason. Every datagram that reaches
// the media is either received or counted in exactly one of these.
type DropStats struct {
	// Garbage: first byte not that of RTP/RTCP version 2 (RFC 7983), or
	// an empty datagram.
	Garbage uint64
	// Truncated: shorter than its RTP header (with CSRCs and extension)
	// plus the profile's tag, or than the smallest SRTCP packet.
	Truncated uint64
	// AuthFailed: the authentication tag did not verify, for a packet
	// sealed with another key, altered on the way, or random bytes that
	// happen to look like RTP.
	AuthFailed uint64
	// Replayed: an index seen before, or older than the replay window.
	Replayed uint64
	// Malformed: authentic but unusable (bad padding, bad RTCP
	// structure), or refused by pion/srtp for another reason.
	Malformed uint64
	// RTPQueueFull and RTCPQueueFull: decrypted, but the reader was too
	// far behind.
	RTPQueueFull, RTCPQueueFull uint64
}

// Stats returns a snapshot of the media's statistics.
func (m *Media) Stats() Stats {
	s := Stats{
		PacketsSent:     m.ctr.sent.Load(),
		BytesSent:       m.ctr.sentBytes.Load(),
		PacketsReceived: m.ctr.recv.Load(),
		BytesReceived:   m.ctr.recvBytes.Load(),
		RTCPSent:        m.ctr.rtcpSent.Load(),
		RTCPReceived:    m.ctr.rtcpRecv.Load(),
		SendRefused:     m.ctr.sendRefused.Load(),
		Dropped: DropStats{
			Garbage:       m.ctr.garbage.Load(),
			Truncated:     m.ctr.truncated.Load(),
			AuthFailed:    m.ctr.auth.Load(),
			Replayed:      m.ctr.replayed.Load(),
			Malformed:     m.ctr.malformed.Load(),
			RTPQueueFull:  m.ctr.rtpQueueFull.Load(),
			RTCPQueueFull: m.ctr.rtcpQueueFull.Load(),
		},
		FirstSent:     unixNano(m.firstSent.Load()),
		FirstReceived: unixNano(m.firstRecv.Load()),
		LastReceived:  unixNano(m.lastRecv.Load()),
	}
	m.smu.Lock()
	defer m.smu.Unlock()
	s.RTT, s.RTTSamples = m.rtt, m.rttSamples
	s.RemotePacketsLost = m.remote.lost
	s.RemoteFractionLost = float64(m.remote.fraction) / 256
	s.RemoteJitter = m.remote.jitter
	for _, r := range m.rx {
		if !r.seqInit {
			continue
		}
		s.PacketsLost += r.lost()
		s.FractionLost = max(s.FractionLost, float64(r.fraction)/256)
		if r.clockRate > 0 {
			j := time.Duration(r.jitter / float64(r.clockRate) * float64(time.Second))
			s.Jitter = max(s.Jitter, j)
		}
	}
	return s
}

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
