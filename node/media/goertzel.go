package media

import "math"

// Goertzel returns the power |X(f)|² of samples at frequency freq (Hz) for a
// signal sampled at sampleRate (Hz), computed with the Goertzel recurrence.
// freq need not fall on a DFT bin. A full-scale-relative sine of amplitude A
// lasting N samples yields about (A·N/2)²; divide by (N/2)² to get A².
func Goertzel(samples []int16, freq, sampleRate float64) float64 {
	if sampleRate <= 0 || len(samples) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/sampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	if p < 0 { // rounding when the power is ~0
		return 0
	}
	return p
}
