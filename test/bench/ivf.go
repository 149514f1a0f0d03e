package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
)

// The daemon bench sends video from an IVF file. The module has no VP8
// encoder, so the frames are VP8 only on the outside — a valid frame tag on
// every frame, and on keyframes the start code and the picture size, as in
// node/media's tests — and random inside: the daemon is a transport and never
// decodes them. Sizes give about 450 kbit/s, a typical 320x240 call.
const (
	videoFPS       = 30
	videoWidth     = 320
	videoHeight    = 240
	keyframeEvery  = 3 * videoFPS // frames
	keyframeSize   = 15000        // bytes
	interframeSize = 1800         // bytes, ± interframeJitter
	interframeJit  = 300
)

// syntheticVP8 returns n VP8 frames: a keyframe every keyframeEvery frames,
// interframes between. The content is deterministic.
func syntheticVP8(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	frames := make([][]byte, 0, n)
	for i := range n {
		size := interframeSize - interframeJit + rng.IntN(2*interframeJit+1)
		key := i%keyframeEvery == 0
		if key {
			size = keyframeSize
		}
		f := make([]byte, size)
		for j := range f {
			f[j] = byte(rng.Uint32())
		}
		// Frame tag (RFC 6386 section 9.1), 3 bytes little-endian: bit 0
		// is 0 for a keyframe, bits 1-3 the version (0), bit 4 show_frame,
		// bits 5-23 the size of the first partition.
		tag := uint32(1<<4) | uint32(size/2)<<5
		if !key {
			tag |= 1
		}
		f[0], f[1], f[2] = byte(tag), byte(tag>>8), byte(tag>>16)
		if key {
			// Start code, then 14-bit width and height (scale bits 0).
			copy(f[3:], []byte{0x9d, 0x01, 0x2a})
			binary.LittleEndian.PutUint16(f[6:], videoWidth)
			binary.LittleEndian.PutUint16(f[8:], videoHeight)
		}
		frames = append(frames, f)
	}
	return frames
}

// ivfBytes builds an IVF file of VP8 frames at fps frames per second
// (time base 1/fps, one pts unit per frame).
func ivfBytes(frames [][]byte, fps uint32) []byte {
	var b bytes.Buffer
	h := make([]byte, 32)
	copy(h, "DKIF")
	binary.LittleEndian.PutUint16(h[4:], 0)  // version
	binary.LittleEndian.PutUint16(h[6:], 32) // header size
	copy(h[8:], "VP80")
	binary.LittleEndian.PutUint16(h[12:], videoWidth)
	binary.LittleEndian.PutUint16(h[14:], videoHeight)
	binary.LittleEndian.PutUint32(h[16:], fps) // rate
	binary.LittleEndian.PutUint32(h[20:], 1)   // scale
	binary.LittleEndian.PutUint32(h[24:], uint32(len(frames)))
	b.Write(h)
	for i, f := range frames {
		var fh [12]byte
		binary.LittleEndian.PutUint32(fh[:], uint32(len(f)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(i))
		b.Write(fh[:])
		b.Write(f)
	}
	return b.Bytes()
}

// writeSyntheticIVF writes seconds of synthetic VP8 video to path.
func writeSyntheticIVF(path string, seconds int) error {
	if err := os.WriteFile(path, ivfBytes(syntheticVP8(seconds*videoFPS), videoFPS), 0o600); err != nil {
		return fmt.Errorf("write video: %w", err)
	}
	return nil
}
