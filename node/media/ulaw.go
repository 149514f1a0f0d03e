package media

// EncodeULaw compresses one 16-bit linear PCM sample to G.711 µ-law, exactly
// as the ITU-T G.191 reference implementation (ulaw_compress) does: only the
// 14 most significant bits count, negative values are taken in one's
// complement (so -1 encodes as 0x7F, the "negative zero"), and magnitudes
// beyond the µ-law range clip to 0x80 / 0x00.
func EncodeULaw(s int16) byte {
	x := int32(s)
	var mag int32
	if x < 0 {
		mag = (^x)>>2 + 33
	} else {
		mag = x>>2 + 33
	}
	if mag > 0x1FFF {
		mag = 0x1FFF
	}
	seg := int32(1)
	for i := mag >> 6; i != 0; i >>= 1 {
		seg++
	}
	hi := 8 - seg
	lo := 0xF - (mag>>seg)&0xF
	b := byte(hi<<4 | lo)
	if x >= 0 {
		b |= 0x80
	}
	return b
}

// DecodeULaw expands one G.711 µ-law byte to 16-bit linear PCM, exactly as
// the ITU-T G.191 reference implementation (ulaw_expand) does: 0xFF and 0x7F
// decode to 0, 0x80 to 32124 and 0x00 to -32124.
func DecodeULaw(b byte) int16 {
	m := ^int32(b)
	exp := (m >> 4) & 7
	mant := m & 0xF
	step := int32(4) << (exp + 1)
	v := (0x80 << exp) + step*mant + step/2 - 4*33
	if b < 0x80 {
		v = -v
	}
	return int16(v)
}
