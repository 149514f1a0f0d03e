package media

import (
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// ToneBufferSeconds is how much decoded PCMU audio a Counter keeps for
// DetectTone.
const ToneBufferSeconds = 2

const (
	// counterWindow is how many sequence numbers behind the highest one a
	// Counter remembers, to tell duplicates from late packets.
	counterWindow = 1024
	// GapThreshold is the least silence between two packets that a
	// Counter records in Stats.Gaps.
	GapThreshold = 100 * time.Millisecond
	// MaxGaps is how many of the latest gaps Stats.Gaps keeps.
	MaxGaps = 32
	// toneMinSamples is the least audio DetectTone works on (100 ms).
	toneMinSamples = 800
)

// Stats are the counters of a Counter.
type Stats struct {
	Packets    uint64    // packets received, duplicates included
	Bytes      uint64    // payload bytes received, duplicates included
	Lost       uint64    // sequence numbers not (yet) received between the lowest and highest seen
	Duplicates uint64    // packets whose sequence number was already received
	Reordered  uint64    // packets that arrived after one with a higher sequence number
	FirstAt    time.Time // arrival of the first packet; zero if none
	LastAt     time.Time // arrival of the last packet; zero if none
}

// Counter is a Sink that counts packets, bytes, losses, duplicates and
// reordering, following sequence numbers across their wrap from 65535 to 0.
// For PCMU it also keeps the last ToneBufferSeconds of decoded audio, so
// DetectTone can check which test tone arrived. All methods are safe for
// concurrent use.
type Counter struct {
	codec Codec

	mu      sync.Mutex // guards everything below
	closed  bool
	st      Stats
	started bool
	base    int64 // lowest extended sequence number seen
	highest int64 // highest extended sequence number seen
	unique  uint64
	seen    [counterWindow / 64]uint64 // bit (ext % counterWindow) for ext in (highest-counterWindow, highest]
	audio   []int16                    // ring of decoded PCMU samples (nil for other codecs)
	apos    int                        // next write position in audio
	alen    int                        // valid samples in audio
	gaps    []time.Duration            // see Gaps
}

// NewCounter returns a Counter for a stream of codec c.
func NewCounter(c Codec) *Counter {
	k := &Counter{codec: c}
	if c.Name == PCMU.Name {
		k.audio = make([]int16, ToneBufferSeconds*int(c.ClockRate))
	}
	return k
}

// WriteRTP counts p.
func (c *Counter) WriteRTP(p *rtp.Packet) error { return c.writeAt(p, time.Now()) }

// writeAt counts p as arrived at now.
func (c *Counter) writeAt(p *rtp.Packet, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.st.Packets++
	c.st.Bytes += uint64(len(p.Payload))
	if c.st.FirstAt.IsZero() {
		c.st.FirstAt = now
	} else if gap := now.Sub(c.st.LastAt); gap >= GapThreshold {
		if len(c.gaps) == MaxGaps {
			c.gaps = append(c.gaps[:0], c.gaps[1:]...)
		}
		c.gaps = append(c.gaps, gap)
	}
	c.st.LastAt = now
	if c.sequenceLocked(p.SequenceNumber) {
		c.addAudioLocked(p.Payload)
	}
	return nil
}

// sequenceLocked accounts for one sequence number and reports whether it is
// new (not a duplicate).
func (c *Counter) sequenceLocked(seq uint16) bool {
	if !c.started {
		c.started = true
		c.base, c.highest, c.unique = int64(seq), int64(seq), 1
		c.setSeenLocked(int64(seq))
		return true
	}
	ext := c.highest + int64(int16(seq-uint16(c.highest)))
	switch {
	case ext > c.highest:
		if ext-c.highest >= counterWindow {
			clear(c.seen[:])
		} else {
			for e := c.highest + 1; e < ext; e++ {
				c.clearSeenLocked(e)
			}
		}
		c.highest = ext
	case ext <= c.highest-counterWindow:
		// Too old to know whether it is a duplicate; count it as late.
		c.st.Reordered++
		c.base = min(c.base, ext)
		c.unique++
		return true
	case c.isSeenLocked(ext):
		c.st.Duplicates++
		return false
	default:
		c.st.Reordered++
		c.base = min(c.base, ext)
	}
	c.setSeenLocked(ext)
	c.unique++
	return true
}

func (c *Counter) bit(ext int64) (int, uint64) {
	i := int(uint64(ext) % counterWindow)
	return i / 64, 1 << (i % 64)
}

func (c *Counter) setSeenLocked(ext int64)   { w, b := c.bit(ext); c.seen[w] |= b }
func (c *Counter) clearSeenLocked(ext int64) { w, b := c.bit(ext); c.seen[w] &^= b }
func (c *Counter) isSeenLocked(ext int64) bool {
	w, b := c.bit(ext)
	return c.seen[w]&b != 0
}

// addAudioLocked decodes a PCMU payload into the ring.
func (c *Counter) addAudioLocked(payload []byte) {
	if c.audio == nil {
		return
	}
	for _, b := range payload {
		c.audio[c.apos] = DecodeULaw(b)
		c.apos = (c.apos + 1) % len(c.audio)
	}
	c.alen = min(c.alen+len(payload), len(c.audio))
}

// Gaps returns the latest (at most MaxGaps) silences of GapThreshold or
// more between two packets, oldest first: what a network change or a
// relay failover cost the listener.
func (c *Counter) Gaps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.gaps)
}

// Stats returns a snapshot of the counters.
func (c *Counter) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	if c.started {
		expected := uint64(c.highest-c.base) + 1
		if expected > c.unique {
			st.Lost = expected - c.unique
		}
	}
	return st
}

// samples returns a copy of the buffered audio, oldest first.
func (c *Counter) samples() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int16, 0, c.alen)
	start := (c.apos - c.alen + len(c.audio)) % max(len(c.audio), 1)
	for i := range c.alen {
		out = append(out, c.audio[(start+i)%len(c.audio)])
	}
	return out
}

// DetectTone runs Goertzel over the buffered PCMU audio at each candidate
// frequency and returns the strongest candidate if it clearly is the tone:
// its power is at least 10 times that of every other candidate, it carries
// at least a quarter of the signal's total power, and its amplitude is above
// -50 dBFS. ok is false for silence, noise, a mixture, less than 100 ms of
// audio, or a Counter whose codec is not PCMU.
func (c *Counter) DetectTone(candidates []float64) (freq float64, ok bool) {
	s := c.samples()
	if len(s) < toneMinSamples || len(candidates) == 0 {
		return 0, false
	}
	var total float64
	for _, x := range s {
		total += float64(x) * float64(x)
	}
	meanSquare := total / float64(len(s))
	half := float64(len(s)) / 2
	norm := half * half // a sine of amplitude A gives Goertzel ≈ A²·norm

	best, bestP, secondP := 0.0, -1.0, 0.0
	for _, f := range candidates {
		p := Goertzel(s, f, float64(c.codec.ClockRate)) / norm
		if p > bestP {
			best, bestP, secondP = f, p, max(bestP, 0)
		} else if p > secondP {
			secondP = p
		}
	}
	const (
		dominance   = 10
		minFraction = 0.25
		minAmpl     = 32768 * 0.00316 // -50 dBFS
	)
	if bestP < minAmpl*minAmpl || bestP < dominance*secondP || bestP/2 < minFraction*meanSquare {
		return 0, false
	}
	return best, true
}

// Close stops counting; Stats and DetectTone keep working.
func (c *Counter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}
