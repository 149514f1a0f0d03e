package media

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// Tone parameters: G.711 µ-law at 8 kHz, 20 ms (160 samples) per packet, a
// sine of amplitude 16384, i.e. -6 dBFS.
const (
	toneSampleRate   = 8000
	toneSamples      = 160
	tonePacketTime   = 20 * time.Millisecond
	toneAmplitude    = 16384
	toneMaxFrequency = toneSampleRate / 2
)

// DefaultToneHz is the frequency of the "tone" source spec.
const DefaultToneHz = 440

// ToneOptions configures NewTone. The zero value is an endless, paced tone.
type ToneOptions struct {
	// Duration is how long the tone lasts; ReadRTP returns io.EOF after
	// ceil(Duration / 20 ms) packets. 0 means endless.
	Duration time.Duration
	// NoPacing makes ReadRTP return at once instead of every 20 ms, for
	// benchmarks and tests.
	NoPacing bool
}

type tone struct {
	step  float64 // phase advance per sample, radians
	limit int64   // packets to send; 0 = endless

	closeOnce sync.Once
	closed    chan struct{}

	// Owned by ReadRTP:
	pacer pacer
	phase float64
	n     int64 // packets sent
	seq   uint16
	ts    uint32
}

// NewTone returns a Source of a G.711 µ-law (PCMU) sine at freqHz: 8 kHz, 160
// samples (20 ms) per packet, amplitude -6 dBFS, phase-continuous across
// packets so the far end can verify it with Counter.DetectTone.
func NewTone(freqHz float64, o ToneOptions) (Source, error) {
	if !(freqHz > 0 && freqHz < toneMaxFrequency) || o.Duration < 0 {
		return nil, fmt.Errorf("media: tone of %v Hz: %w (the frequency must be above 0 and below %v Hz, the duration not negative)", freqHz, ErrBadTone, toneMaxFrequency)
	}
	t := &tone{
		step:   2 * math.Pi * freqHz / toneSampleRate,
		closed: make(chan struct{}),
		pacer:  pacer{off: o.NoPacing},
	}
	if o.Duration > 0 {
		t.limit = int64((o.Duration + tonePacketTime - 1) / tonePacketTime)
	}
	t.seq, t.ts = randomStart()
	return t, nil
}

// Codec returns PCMU.
func (t *tone) Codec() Codec { return PCMU }

// ReadRTP returns the next 20 ms of tone when it is due.
func (t *tone) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	select {
	case <-t.closed:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.limit > 0 && t.n >= t.limit {
		return nil, io.EOF
	}
	if err := t.pacer.wait(ctx, t.closed, time.Duration(t.n)*tonePacketTime); err != nil {
		return nil, err
	}
	payload := make([]byte, toneSamples)
	for i := range payload {
		payload[i] = EncodeULaw(int16(math.Round(toneAmplitude * math.Sin(t.phase))))
		t.phase += t.step
	}
	t.phase = math.Mod(t.phase, 2*math.Pi)
	p := &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         t.n == 0,
			PayloadType:    PCMU.PayloadType,
			SequenceNumber: t.seq,
			Timestamp:      t.ts,
		},
		Payload: payload,
	}
	t.n++
	t.seq++
	t.ts += toneSamples
	return p, nil
}

// Close stops the tone; a blocked ReadRTP returns ErrClosed.
func (t *tone) Close() error {
	t.closeOnce.Do(func() { close(t.closed) })
	return nil
}
