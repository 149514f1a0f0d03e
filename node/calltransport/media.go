package calltransport

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// receiveMTU is the read buffer size: pion/ice reads each datagram into a
// buffer of this size, so nothing larger reaches us.
const receiveMTU = 8192

// Queue depths between the read loop and ReadRTP/ReadRTCP. When a reader
// falls this far behind, new packets are dropped and counted rather than
// stalling the read loop (which would back up into pion's buffer and drop
// there, uncounted).
const (
	rtpQueueLen  = 512
	rtcpQueueLen = 64
)

// packetConn is what Media needs from the ICE connection.
type packetConn interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
}

// Media is the SRTP session of one [Leg]: RTP and RTCP multiplexed on the
// leg's selected ICE pair. Its methods are safe for concurrent use.
type Media struct {
	cfg *resolved
	log *slog.Logger

	conn         packetConn
	rtpTagLen    int // smallest SRTP packet beyond the RTP header
	rtcpMinLen   int // smallest SRTCP packet
	reporterSSRC uint32

	wmu  sync.Mutex // guards enc, sidx, pbuf, wbuf, tx
	enc  *srtp.Context
	sidx sendIndex
	pbuf []byte
	wbuf []byte
	tx   map[uint32]*txSource

	// Owned by the read loop (or whoever calls handlePacket):
	dec    *srtp.Context
	replay *replayWatch

	smu   sync.Mutex // guards rx, local, rtt, rttSamples, remote
	rx    map[uint32]*rxSource
	local map[uint32]uint32 // our SSRCs and their clock rates
	rtt   time.Duration
	// rttSamples counts RTT measurements, since a loopback RTT can round
	// to 0 in RTCP's 1/65536 s units.
	rttSamples uint64
	remote     remoteReport

	ctr       counters
	firstSent atomic.Int64 // unix nanoseconds, 0 = none yet
	firstRecv atomic.Int64
	lastRecv  atomic.Int64 // unix nanoseconds of the last RTP or RTCP packet that decrypted

	rtpCh     chan *rtp.Packet
	rtcpCh    chan []rtcp.Packet
	done      chan struct{} // closed by Close
	readDone  chan struct{} // closed when the read loop exits; nil before start
	legFailed <-chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// counters are the packet counters behind [Stats].
type counters struct {
	sent, sentBytes, recv, recvBytes atomic.Uint64
	rtcpSent, rtcpRecv               atomic.Uint64
	garbage, truncated, auth         atomic.Uint64
	replayed, malformed              atomic.Uint64
	rtpQueueFull, rtcpQueueFull      atomic.Uint64
	sendRefused                      atomic.Uint64
}

// newMedia builds the SRTP session without starting any goroutine; start
// binds it to a connection.
func newMedia(k Keys, profile srtp.ProtectionProfile, cfg *resolved, log *slog.Logger) (*Media, error) {
	profile, err := checkProfile(profile)
	if err != nil {
		return nil, err
	}
	if err := k.check(profile); err != nil {
		return nil, err
	}
	tagLen, rtcpMin, err := overheads(profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedProfile, err)
	}
	m := &Media{
		cfg:          cfg,
		log:          log,
		rtpTagLen:    tagLen,
		rtcpMinLen:   rtcpMin,
		reporterSSRC: randomSSRC(),
		tx:           make(map[uint32]*txSource),
		replay:       new(replayWatch),
		rx:           make(map[uint32]*rxSource),
		local:        make(map[uint32]uint32),
		rtpCh:        make(chan *rtp.Packet, rtpQueueLen),
		rtcpCh:       make(chan []rtcp.Packet, rtcpQueueLen),
		done:         make(chan struct{}),
	}
	m.enc, m.dec, err = newContexts(k, profile, m.replay)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return binary.BigEndian.Uint32(b[:])
}

// start binds m to conn and starts the read loop and, unless reports are
// off, the RTCP reporter. legFailed is closed when the leg's ICE fails.
func (m *Media) start(conn packetConn, legFailed <-chan struct{}) {
	m.conn = conn
	m.legFailed = legFailed
	m.readDone = make(chan struct{})
	m.wg.Add(1)
	go m.readLoop()
	if m.cfg.ReportInterval > 0 {
		m.wg.Add(1)
		go m.reportLoop()
	}
}

// Close stops the media: blocked ReadRTP and ReadRTCP calls return
// [ErrClosed], writes fail, and Close waits for the media's goroutines. It
// does not close the leg. Closing twice is harmless.
func (m *Media) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		if m.conn != nil {
			// Unblock the read loop; pion's buffer honours deadlines.
			_ = m.conn.SetReadDeadline(time.Now())
		}
		m.wg.Wait()
	})
	return nil
}

func (m *Media) closed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// WriteRTP encrypts p and sends it on the selected pair. It fails before
// the leg has a working pair, after Close, for payload types 64 to 95
// (see [ErrPayloadTypeConflict]), and with [ErrStaleIndex] for a packet
// whose SRTP index would not be above the last one sent on its SSRC (a
// repeated or older sequence number), which is counted in
// [Stats].SendRefused. The version field is always sent as 2. p is not
// retained.
func (m *Media) WriteRTP(p *rtp.Packet) error {
	if p == nil {
		return fmt.Errorf("calltransport: write RTP: %w: nil", ErrBadPacket)
	}
	if pt := p.PayloadType; pt >= 64 && pt <= 95 {
		return fmt.Errorf("calltransport: write RTP: %w: %d", ErrPayloadTypeConflict, pt)
	}
	if m.closed() {
		return fmt.Errorf("calltransport: write RTP: %w", ErrClosed)
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	out, err := m.sealRTPLocked(p)
	if err != nil {
		return fmt.Errorf("calltransport: write RTP: %w", err)
	}
	if _, err := m.conn.Write(out); err != nil {
		return fmt.Errorf("calltransport: write RTP: %w", err)
	}
	m.ctr.sent.Add(1)
	m.ctr.sentBytes.Add(uint64(len(out)))
	now := time.Now()
	m.firstSent.CompareAndSwap(0, now.UnixNano())
	m.noteSentLocked(&p.Header, len(p.Payload), now)
	return nil
}

// sealRTPLocked marshals p and encrypts it under the SRTP index sendIndex
// decides, which must be above every index used before on p's SSRC. The
// result is in m.wbuf. The caller holds m.wmu.
func (m *Media) sealRTPLocked(p *rtp.Packet) ([]byte, error) {
	size := p.MarshalSize()
	if cap(m.pbuf) < size {
		m.pbuf = make([]byte, size)
	}
	n, err := p.MarshalTo(m.pbuf[:size])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPacket, err)
	}
	m.pbuf[0] = m.pbuf[0]&0x3F | 2<<6 // RTP version 2, whatever p.Version says
	idx, err := m.sidx.next(p.SSRC, p.SequenceNumber)
	if err != nil {
		m.ctr.sendRefused.Add(1)
		return nil, err
	}
	m.sidx.commit(p.SSRC, idx)
	// Pin the ROC: pion then uses exactly idx (SetROC makes the next
	// packet on the SSRC take the given ROC with its sequence number).
	m.enc.SetROC(p.SSRC, uint32(idx>>16))
	var hdr rtp.Header
	out, err := m.enc.EncryptRTP(m.wbuf[:0], m.pbuf[:n], &hdr)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	m.wbuf = out
	return out, nil
}

// ReadRTP returns the next decrypted RTP packet, of any SSRC. It blocks
// until one arrives, and returns [ErrClosed] after Close (of the media or
// the leg) and an error wrapping [ErrFailed] once ICE has failed. The
// caller owns the packet.
func (m *Media) ReadRTP() (*rtp.Packet, error) {
	if m.closed() {
		return nil, fmt.Errorf("calltransport: read RTP: %w", ErrClosed)
	}
	p, err := next(m, m.rtpCh)
	if err != nil {
		return nil, fmt.Errorf("calltransport: read RTP: %w", err)
	}
	return p, nil
}

// next receives from ch, a queue filled by the read loop. Packets already
// queued are still returned once ICE has failed or the read loop has
// stopped; after Close nothing is.
func next[T any](m *Media, ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-m.done:
		return zero, ErrClosed
	case <-m.readDone:
	case <-m.legFailed:
	}
	select {
	case v := <-ch:
		if !m.closed() {
			return v, nil
		}
	default:
	}
	select {
	case <-m.legFailed:
		return zero, ErrFailed
	default:
		return zero, ErrClosed
	}
}

// readLoop reads datagrams from the ICE connection until Close or until
// the agent closes, and hands each to handlePacket.
func (m *Media) readLoop() {
	defer m.wg.Done()
	defer close(m.readDone)
	buf := make([]byte, receiveMTU)
	for {
		n, err := m.conn.Read(buf)
		switch {
		case err == nil:
			m.handlePacket(buf[:n], time.Now())
		case errors.Is(err, io.ErrShortBuffer):
			m.ctr.truncated.Add(1) // larger than any datagram pion delivers
		default:
			if !m.closed() {
				m.log.Debug("media read loop stopped", "err", err)
			}
			return
		}
	}
}

// handlePacket demultiplexes one datagram (RFC 7983 first byte, RFC 5761
// payload-type rule), decrypts it and queues it, or drops and counts it.
// Every call adds exactly one to one counter: received RTP, received RTCP,
// or one of the drop reasons.
func (m *Media) handlePacket(b []byte, now time.Time) {
	switch {
	case len(b) == 0 || b[0] < 128 || b[0] > 191:
		m.ctr.garbage.Add(1) // not RTP/RTCP version 2: STUN is taken by pion, the rest is junk
	case len(b) < 2:
		m.ctr.truncated.Add(1)
	case b[1] >= 192 && b[1] <= 223:
		m.handleRTCP(b, now)
	default:
		m.handleRTP(b, now)
	}
}

func (m *Media) handleRTP(b []byte, now time.Time) {
	var h rtp.Header
	hl, err := h.Unmarshal(b)
	if err != nil || len(b) < hl+m.rtpTagLen {
		m.ctr.truncated.Add(1)
		return
	}
	m.replay.hit = false
	plain, err := m.dec.DecryptRTP(make([]byte, len(b)), b, &h)
	if err != nil {
		m.countDecryptError("srtp", err)
		return
	}
	p := new(rtp.Packet)
	if err := p.Unmarshal(plain); err != nil {
		m.ctr.malformed.Add(1)
		return
	}
	m.ctr.recv.Add(1)
	m.ctr.recvBytes.Add(uint64(len(b)))
	m.firstRecv.CompareAndSwap(0, now.UnixNano())
	m.lastRecv.Store(now.UnixNano())
	m.noteReceived(&p.Header, now)
	select {
	case m.rtpCh <- p:
	default:
		m.ctr.rtpQueueFull.Add(1)
	}
}

func (m *Media) handleRTCP(b []byte, now time.Time) {
	if len(b) < m.rtcpMinLen {
		m.ctr.truncated.Add(1)
		return
	}
	m.replay.hit = false
	plain, err := m.dec.DecryptRTCP(nil, b, nil)
	if err != nil {
		m.countDecryptError("srtcp", err)
		return
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		m.ctr.malformed.Add(1)
		return
	}
	m.ctr.rtcpRecv.Add(1)
	m.lastRecv.Store(now.UnixNano())
	m.processRTCP(pkts, now)
	select {
	case m.rtcpCh <- pkts:
	default:
		m.ctr.rtcpQueueFull.Add(1)
	}
}

// countDecryptError sorts a decryption failure into replayed, failed
// authentication (wrong key, tampering, forged or random bytes that look
// like RTP) or malformed (anything else pion/srtp refuses).
func (m *Media) countDecryptError(proto string, err error) {
	switch {
	case m.replay.hit:
		m.ctr.replayed.Add(1)
	case errors.Is(err, srtp.ErrFailedToVerifyAuthTag):
		m.ctr.auth.Add(1)
	default:
		m.ctr.malformed.Add(1)
		m.log.Debug("dropped undecryptable packet", "proto", proto, "err", err)
	}
}
