package calltransport

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Sequence-number bookkeeping constants from RFC 3550 appendix A.1.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16

	// maxSources bounds the remote SSRCs tracked (and so the report
	// blocks sent: an SR or RR holds at most 31).
	maxSources = 31

	// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970.
	ntpEpochOffset = 2208988800
)

// txSource is what we have sent on one of our SSRCs, for sender reports.
type txSource struct {
	packets, octets uint32 // wrap as RFC 3550 says
	lastTS          uint32
	lastAt          time.Time
	clockRate       uint32
}

// rxSource is the reception state of one remote SSRC (RFC 3550 A.1, A.3,
// A.8).
type rxSource struct {
	seqInit       bool
	baseSeq       uint32
	maxSeq        uint16
	badSeq        uint32
	cycles        uint32
	received      uint64
	expectedPrior uint64
	receivedPrior uint64
	fraction      uint8 // of the last interval we reported

	clockRate   uint32
	haveTransit bool
	transit     uint32
	jitter      float64 // in RTP timestamp units

	lastSR   uint32 // middle 32 bits of the NTP time of its last SR
	lastSRAt time.Time
}

// remoteReport is what the peer last reported about our stream.
type remoteReport struct {
	fraction uint8
	lost     int64
	jitter   time.Duration
}

func toNTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)                  //nolint:gosec // after 1900
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second) //nolint:gosec // < 1e9
	return secs<<32 | frac
}

func ntpMiddle(ntp uint64) uint32 { return uint32(ntp >> 16) } //nolint:gosec // intended truncation

func (s *rxSource) initSeq(seq uint16) {
	*s = rxSource{
		seqInit: true, baseSeq: uint32(seq), maxSeq: seq, badSeq: seqMod + 1,
		clockRate: s.clockRate, lastSR: s.lastSR, lastSRAt: s.lastSRAt,
	}
}

// updateSeq applies RFC 3550 A.1 to one packet; it reports false for the
// first packet after a large jump, which is not counted until the next
// packet confirms the source restarted.
func (s *rxSource) updateSeq(seq uint16) bool {
	if !s.seqInit {
		s.initSeq(seq)
		s.received++
		return true
	}
	udelta := seq - s.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += seqMod
		}
		s.maxSeq = seq
	case udelta <= seqMod-maxMisorder:
		if uint32(seq) != s.badSeq {
			s.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		s.initSeq(seq)
	default:
		// Duplicate or reordered packet: counted, max unchanged.
	}
	s.received++
	return true
}

// updateJitter applies RFC 3550 A.8 when the clock rate is known.
func (s *rxSource) updateJitter(ts, clockRate uint32, now time.Time) {
	if clockRate == 0 {
		s.haveTransit = false
		return
	}
	if clockRate != s.clockRate {
		s.clockRate, s.haveTransit, s.jitter = clockRate, false, 0
	}
	arrival := uint32(uint64(now.UnixNano()) * uint64(clockRate) / uint64(time.Second)) //nolint:gosec // RTP time wraps
	transit := arrival - ts
	if s.haveTransit {
		d := int32(transit - s.transit) //nolint:gosec // wrapping difference
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.transit, s.haveTransit = transit, true
}

func (s *rxSource) extMax() uint64 { return uint64(s.cycles) + uint64(s.maxSeq) }

// lost is the cumulative number of packets lost (negative with duplicates).
func (s *rxSource) lost() int64 {
	expected := int64(s.extMax()) - int64(s.baseSeq) + 1 //nolint:gosec // small
	return expected - int64(s.received)                  //nolint:gosec // small
}

// report builds a reception report block and starts a new interval.
func (s *rxSource) report(ssrc uint32, now time.Time) rtcp.ReceptionReport {
	expected := s.extMax() - uint64(s.baseSeq) + 1
	expInt := int64(expected) - int64(s.expectedPrior)   //nolint:gosec // small
	recInt := int64(s.received) - int64(s.receivedPrior) //nolint:gosec // small
	s.expectedPrior, s.receivedPrior = expected, s.received
	s.fraction = 0
	if lostInt := expInt - recInt; expInt > 0 && lostInt > 0 {
		s.fraction = uint8(min(lostInt<<8/expInt, 255)) //nolint:gosec // clamped
	}
	rr := rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       s.fraction,
		TotalLost:          uint32(min(max(s.lost(), 0), 0x7FFFFF)), //nolint:gosec // clamped to 24 bits
		LastSequenceNumber: uint32(s.extMax()),                      //nolint:gosec // wraps as RTCP says
		Jitter:             uint32(s.jitter),
		LastSenderReport:   s.lastSR,
	}
	if !s.lastSRAt.IsZero() {
		rr.Delay = uint32(now.Sub(s.lastSRAt).Seconds() * 65536)
	}
	return rr
}

// noteSentLocked records a sent RTP packet for sender reports. The caller
// holds m.wmu.
func (m *Media) noteSentLocked(h *rtp.Header, payloadLen int, now time.Time) {
	s := m.tx[h.SSRC]
	if s == nil {
		if len(m.tx) >= maxSources {
			return
		}
		s = &txSource{}
		m.tx[h.SSRC] = s
	}
	if cr := m.cfg.clockRate(h.PayloadType); cr != s.clockRate || s.packets == 0 {
		s.clockRate = cr
		m.smu.Lock()
		m.local[h.SSRC] = cr
		m.smu.Unlock()
	}
	s.packets++
	s.octets += uint32(payloadLen) //nolint:gosec // wraps as RTCP says
	s.lastTS, s.lastAt = h.Timestamp, now
}

// noteReceived updates the reception statistics for an authenticated RTP
// packet.
func (m *Media) noteReceived(h *rtp.Header, now time.Time) {
	m.smu.Lock()
	defer m.smu.Unlock()
	s := m.rx[h.SSRC]
	if s == nil {
		if len(m.rx) >= maxSources {
			return
		}
		s = &rxSource{}
		m.rx[h.SSRC] = s
	}
	if s.updateSeq(h.SequenceNumber) {
		s.updateJitter(h.Timestamp, m.cfg.clockRate(h.PayloadType), now)
	}
}

// processRTCP takes what RTCP tells us: the remote's sender report times
// (for our DLSR) and its reception reports about our SSRCs (loss, jitter,
// RTT = now - LSR - DLSR).
func (m *Media) processRTCP(pkts []rtcp.Packet, now time.Time) {
	m.smu.Lock()
	defer m.smu.Unlock()
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			m.noteSRLocked(p.SSRC, p.NTPTime, now)
			m.noteBlocksLocked(p.Reports, now)
		case *rtcp.ReceiverReport:
			m.noteBlocksLocked(p.Reports, now)
		}
	}
}

func (m *Media) noteSRLocked(ssrc uint32, ntp uint64, now time.Time) {
	s := m.rx[ssrc]
	if s == nil {
		if len(m.rx) >= maxSources {
			return
		}
		s = &rxSource{}
		m.rx[ssrc] = s
	}
	s.lastSR, s.lastSRAt = ntpMiddle(ntp), now
}

func (m *Media) noteBlocksLocked(blocks []rtcp.ReceptionReport, now time.Time) {
	for _, b := range blocks {
		cr, ours := m.local[b.SSRC]
		if !ours {
			continue
		}
		lost := int64(b.TotalLost & 0xFFFFFF)
		if lost&0x800000 != 0 { // 24-bit two's complement
			lost -= 1 << 24
		}
		m.remote = remoteReport{fraction: b.FractionLost, lost: lost}
		if cr > 0 {
			m.remote.jitter = time.Duration(float64(b.Jitter) / float64(cr) * float64(time.Second))
		}
		if b.LastSenderReport == 0 {
			continue
		}
		units := ntpMiddle(toNTP(now)) - b.LastSenderReport - b.Delay
		if int32(units) >= 0 { //nolint:gosec // a negative result is clock noise or a lie
			m.rtt = time.Duration(uint64(units) * uint64(time.Second) >> 16)
			m.rttSamples++
		}
	}
}

// buildReport makes a compound RTCP packet: one SR per SSRC we send on
// (report blocks in the first), or an RR from a random reporter SSRC when we
// send nothing. No SDES: reduced-size RTCP (RFC 5506) between two Parley
// nodes that know each other's SSRCs from signalling.
func (m *Media) buildReport(now time.Time) []rtcp.Packet {
	ntp := toNTP(now)
	var srs []rtcp.Packet
	m.wmu.Lock()
	for _, ssrc := range slices.Sorted(mapKeys(m.tx)) {
		s := m.tx[ssrc]
		ts := s.lastTS
		if s.clockRate > 0 {
			ts += uint32(now.Sub(s.lastAt).Seconds() * float64(s.clockRate))
		}
		srs = append(srs, &rtcp.SenderReport{
			SSRC: ssrc, NTPTime: ntp, RTPTime: ts, PacketCount: s.packets, OctetCount: s.octets,
		})
	}
	m.wmu.Unlock()

	var blocks []rtcp.ReceptionReport
	m.smu.Lock()
	for _, ssrc := range slices.Sorted(mapKeys(m.rx)) {
		if s := m.rx[ssrc]; s.seqInit {
			blocks = append(blocks, s.report(ssrc, now))
		}
	}
	m.smu.Unlock()

	if len(srs) == 0 {
		return []rtcp.Packet{&rtcp.ReceiverReport{SSRC: m.reporterSSRC, Reports: blocks}}
	}
	srs[0].(*rtcp.SenderReport).Reports = blocks //nolint:forcetypeassert // built above
	return srs
}

func mapKeys[V any](m map[uint32]V) func(func(uint32) bool) {
	return func(yield func(uint32) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// SendReport sends a compound RTCP report now (see the package
// documentation); the media also sends one every Config.ReportInterval on
// its own.
func (m *Media) SendReport() error {
	return m.WriteRTCP(m.buildReport(time.Now()))
}

// WriteRTCP encrypts a compound RTCP packet and sends it on the selected
// pair. Its first packet must have an RTCP packet type (192 to 223) so
// that the peer's demultiplexer sees RTCP.
func (m *Media) WriteRTCP(pkts []rtcp.Packet) error {
	if len(pkts) == 0 {
		return fmt.Errorf("calltransport: write RTCP: %w: empty", ErrBadPacket)
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return fmt.Errorf("calltransport: write RTCP: %w: %w", ErrBadPacket, err)
	}
	if len(raw) < 8 || raw[1] < 192 || raw[1] > 223 {
		return fmt.Errorf("calltransport: write RTCP: %w: not an RTCP packet type", ErrBadPacket)
	}
	if m.closed() {
		return fmt.Errorf("calltransport: write RTCP: %w", ErrClosed)
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	out, err := m.enc.EncryptRTCP(nil, raw, nil)
	if err != nil {
		return fmt.Errorf("calltransport: write RTCP: encrypt: %w", err)
	}
	if _, err := m.conn.Write(out); err != nil {
		return fmt.Errorf("calltransport: write RTCP: %w", err)
	}
	m.ctr.rtcpSent.Add(1)
	return nil
}

// ReadRTCP returns the next decrypted compound RTCP packet. The media has
// already taken what it needs for [Stats]; reading is optional, and packets
// nobody reads are dropped (counted in Dropped.RTCPQueueFull). Errors are
// as for [Media.ReadRTP].
func (m *Media) ReadRTCP() ([]rtcp.Packet, error) {
	p, err := next(m, m.rtcpCh)
	if err != nil {
		return nil, fmt.Errorf("calltransport: read RTCP: %w", err)
	}
	return p, nil
}

// reportLoop sends a report every ReportInterval, randomized to 0.5–1.5
// times the interval (RFC 3550 6.3.1) so that the two sides do not
// synchronize.
func (m *Media) reportLoop() {
	defer m.wg.Done()
	for {
		d := time.Duration(float64(m.cfg.ReportInterval) * (0.5 + rand.Float64())) //nolint:gosec // not for security
		t := time.NewTimer(d)
		select {
		case <-m.done:
			t.Stop()
			return
		case <-t.C:
		}
		if err := m.SendReport(); err != nil {
			m.log.Debug("RTCP report not sent", "err", err)
		}
	}
}
