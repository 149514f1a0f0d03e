package media

import (
	"github.com/pion/rtp"
)

// reorder releases packets in sequence-number order. It waits for a missing
// packet until maxLate later sequence numbers have arrived (or flush), then
// gives it up and reports the loss with the next packet it releases.
// Duplicates and packets arriving after their turn are dropped. It holds at
// most maxLate+1 packets.
type reorder struct {
	maxLate int64
	buf     map[int64]*rtp.Packet // by extended sequence number
	started bool
	next    int64 // extended sequence number to release next
	highest int64 // highest extended sequence number seen
}

func newReorder(maxLate int) *reorder {
	return &reorder{maxLate: int64(maxLate), buf: map[int64]*rtp.Packet{}}
}

// push adds p (which the reorder keeps) and releases what is now in order.
func (r *reorder) push(p *rtp.Packet, emit func(p *rtp.Packet, lost bool)) {
	seq := p.SequenceNumber
	if !r.started {
		r.started, r.next, r.highest = true, int64(seq), int64(seq)
	}
	ext := r.highest + int64(int16(seq-uint16(r.highest)))
	if ext < r.next {
		return // late or duplicate
	}
	if _, dup := r.buf[ext]; dup {
		return
	}
	r.highest = max(r.highest, ext)
	r.buf[ext] = p
	r.drain(false, emit)
}

// flush releases everything held, giving up on every gap.
func (r *reorder) flush(emit func(p *rtp.Packet, lost bool)) { r.drain(true, emit) }

func (r *reorder) drain(force bool, emit func(p *rtp.Packet, lost bool)) {
	lost := false
	for len(r.buf) > 0 {
		if p, ok := r.buf[r.next]; ok {
			delete(r.buf, r.next)
			r.next++
			emit(p, lost)
			lost = false
			continue
		}
		if !force && r.highest-r.next < r.maxLate {
			return
		}
		// Give up on the gap: skip to the oldest packet held.
		first := true
		for ext := range r.buf {
			if first || ext < r.next {
				r.next, first = ext, false
			}
		}
		lost = true
	}
}

// frameAssembler joins the in-order packets of a video stream into frames
// with a pion depacketizer. A frame is complete at its marker packet; a
// frame that lost a packet, does not start with a partition head, fails to
// depacketize or grows beyond MaxIVFFrameSize is dropped.
type frameAssembler struct {
	dp rtp.Depacketizer

	active bool   // a frame is in progress
	ts     uint32 // its RTP timestamp
	broken bool   // it will be dropped
	key    bool   // its first packet says keyframe
	data   []byte
}

// add takes the next packet in sequence order (lost: packets before it were
// given up) and returns a completed frame, if p completes one.
func (a *frameAssembler) add(p *rtp.Packet, lost bool) (data []byte, ts uint32, key, ok bool) {
	if a.active && p.Timestamp != a.ts {
		a.reset() // the previous frame never saw its marker
	}
	if a.active && lost {
		a.broken = true
	}
	first := !a.active
	if first {
		a.active, a.ts = true, p.Timestamp
		a.broken = !a.dp.IsPartitionHead(p.Payload)
	}
	if !a.broken {
		b, err := a.dp.Unmarshal(p.Payload)
		if err != nil {
			a.broken = true
		} else {
			if first {
				a.key = isKeyframeHead(a.dp)
			}
			a.data = append(a.data, b...)
			if len(a.data) > MaxIVFFrameSize {
				a.broken, a.data = true, nil // a frame that never ends
			}
		}
	}
	if !p.Marker {
		return nil, 0, false, false
	}
	data, ts, key, ok = a.data, a.ts, a.key, !a.broken && len(a.data) > 0
	a.reset()
	return data, ts, key, ok
}

func (a *frameAssembler) reset() {
	a.active, a.broken, a.key, a.data = false, false, false, nil
}
