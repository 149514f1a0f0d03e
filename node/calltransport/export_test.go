package calltransport

import (
	"bytes"

	"github.com/pion/rtp"
)

// writeRawForTest sends b as is on the leg's ICE connection, the same
// socket and pair media uses, so the peer receives it from a valid remote
// candidate.
func (l *Leg) writeRawForTest(b []byte) error {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	_, err := c.Write(b)
	return err
}

// sealRTPForTest encrypts p as WriteRTP would (index check included) and
// returns the SRTP packet without sending it.
func (m *Media) sealRTPForTest(p *rtp.Packet) ([]byte, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	out, err := m.sealRTPLocked(p)
	return bytes.Clone(out), err
}

// sealRTCPForTest is sealRTPForTest for a raw compound RTCP packet.
func (m *Media) sealRTCPForTest(raw []byte) ([]byte, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.enc.EncryptRTCP(nil, raw, nil)
}

// setMaxRemotesForTest raises the remote-candidate limit (fuzzing).
func (l *Leg) setMaxRemotesForTest(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxRemotes = n
}

// sendRefusedForTest is Stats().SendRefused.
func sendRefusedForTest(m *Media) uint64 { return m.Stats().SendRefused }
