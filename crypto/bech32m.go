package crypto

import (
	"errors"
	"fmt"
	"strings"
)

// This file implements bech32m (BIP-350): the checksum and the text encoding
// used for account IDs. It is small enough to hand-write and saves a
// dependency.

const (
	bech32Charset  = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	bech32mConst   = 0x2bc830a3
	bech32MaxLen   = 90
	bech32CheckLen = 6
)

// bech32Rev maps an ASCII byte to its 5-bit value, or -1.
var bech32Rev = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(bech32Charset); i++ {
		t[bech32Charset[i]] = int8(i)
	}
	return t
}()

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range gen {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// bech32mEncode encodes 5-bit groups under a lowercase hrp.
func bech32mEncode(hrp string, data []byte) string {
	values := append(bech32HRPExpand(hrp), data...)
	values = append(values, make([]byte, bech32CheckLen)...)
	mod := bech32Polymod(values) ^ bech32mConst
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(data) + bech32CheckLen)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, d := range data {
		b.WriteByte(bech32Charset[d])
	}
	for i := range bech32CheckLen {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return b.String()
}

var errBech32Checksum = errors.New("checksum mismatch (check the ID for a typo)")

// bech32mDecode decodes a bech32m string following BIP-350, including its
// rule against mixed case. It returns the lowercase hrp and the 5-bit data
// groups without the checksum.
func bech32mDecode(s string) (hrp string, data []byte, err error) {
	if len(s) > bech32MaxLen {
		return "", nil, fmt.Errorf("too long (%d > %d characters)", len(s), bech32MaxLen)
	}
	var lower, upper bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			return "", nil, fmt.Errorf("bad character %q at position %d", c, i)
		}
		lower = lower || ('a' <= c && c <= 'z')
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if lower && upper {
		return "", nil, errors.New("mixed case")
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 {
		return "", nil, errors.New("missing human-readable part")
	}
	if len(s)-sep-1 < bech32CheckLen {
		return "", nil, errors.New("too short for a checksum")
	}
	hrp = s[:sep]
	values := bech32HRPExpand(hrp)
	for i := sep + 1; i < len(s); i++ {
		v := bech32Rev[s[i]]
		if v < 0 {
			return "", nil, fmt.Errorf("bad character %q at position %d", s[i], i)
		}
		values = append(values, byte(v))
	}
	if bech32Polymod(values) != bech32mConst {
		return "", nil, errBech32Checksum
	}
	data = values[len(values)-(len(s)-sep-1) : len(values)-bech32CheckLen]
	return hrp, data, nil
}

// convertBits regroups bits from groups of `from` bits to groups of `to`
// bits. With pad, a short final group is padded with zeros; without pad,
// leftover bits must be fewer than `from` and all zero.
func convertBits(in []byte, from, to uint, pad bool) ([]byte, error) {
	var acc, bits uint
	maxv := uint(1)<<to - 1
	out := make([]byte, 0, (uint(len(in))*from+to-1)/to)
	for _, v := range in {
		acc = acc<<from | uint(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte((acc>>bits)&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte((acc<<(to-bits))&maxv))
		}
	} else if bits >= from || (acc<<(to-bits))&maxv != 0 {
		return nil, errors.New("non-zero padding bits")
	}
	return out, nil
}
