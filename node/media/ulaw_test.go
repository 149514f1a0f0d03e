package media

import (
	"math"
	"testing"
)

// ulawNegative is the classic G.711 µ-law expansion table for codes
// 0x00–0x7F (as in the ITU-T G.191 software tools and Sun's g711.c); codes
// 0x80–0xFF are the same magnitudes, positive.
var ulawNegative = [128]int16{
	-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
	-23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
	-15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
	-11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
	-7932, -7676, -7420, -7164, -6908, -6652, -6396, -6140,
	-5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092,
	-3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004,
	-2876, -2748, -2620, -2492, -2364, -2236, -2108, -1980,
	-1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436,
	-1372, -1308, -1244, -1180, -1116, -1052, -988, -924,
	-876, -844, -812, -780, -748, -716, -684, -652,
	-620, -588, -556, -524, -492, -460, -428, -396,
	-372, -356, -340, -324, -308, -292, -276, -260,
	-244, -228, -212, -196, -180, -164, -148, -132,
	-120, -112, -104, -96, -88, -80, -72, -64,
	-56, -48, -40, -32, -24, -16, -8, 0,
}

func TestDecodeULawTable(t *testing.T) {
	for i, want := range ulawNegative {
		if got := DecodeULaw(byte(i)); got != want {
			t.Errorf("DecodeULaw(%#02x) = %d, want %d", i, got, want)
		}
		if got := DecodeULaw(byte(i) | 0x80); got != -want {
			t.Errorf("DecodeULaw(%#02x) = %d, want %d", i|0x80, got, -want)
		}
	}
}

func TestEncodeULawKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		in   int16
		want byte
	}{
		{"zero", 0, 0xFF},
		{"minus one is negative zero", -1, 0x7F},
		{"small positive", 1, 0xFF},
		{"minus four", -4, 0x7F},
		{"minus five", -5, 0x7E},
		{"positive max", 32767, 0x80},
		{"negative max", -32768, 0x00},
		{"decision level 32124", 32124, 0x80},
		{"top of segment 0", 120, 0xF0},
		{"just above clip", 32635, 0x80},
		{"1000", 1000, 0xCE},
		{"-1000", -1000, 0x4E},
		{"8000", 8000, 0xA0},
		{"-8000", -8000, 0x20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EncodeULaw(tt.in); got != tt.want {
				t.Errorf("EncodeULaw(%d) = %#02x, want %#02x", tt.in, got, tt.want)
			}
		})
	}
}

func TestULawRoundTrip(t *testing.T) {
	// Every code but negative zero survives decode → encode.
	for b := range 256 {
		if b == 0x7F {
			continue
		}
		if got := EncodeULaw(DecodeULaw(byte(b))); got != byte(b) {
			t.Errorf("EncodeULaw(DecodeULaw(%#02x)) = %#02x", b, got)
		}
	}
	// Every linear value comes back within half a quantization step: the
	// step in a segment is 1/16 of its lower bound (plus the bias), and
	// values beyond the top level clip to ±32124.
	for x := math.MinInt16; x <= math.MaxInt16; x++ {
		got := int(DecodeULaw(EncodeULaw(int16(x))))
		mag := x
		if mag < 0 {
			mag = -mag
		}
		if mag > 32124+512 {
			if want := 32124 * sign(x); got != want {
				t.Fatalf("round trip %d = %d, want clip to %d", x, got, want)
			}
			continue
		}
		if err := abs(got - x); err > (mag+132)/32+4 {
			t.Fatalf("round trip %d = %d: error %d too large", x, got, err)
		}
		if got != 0 && sign(got) != sign(x) {
			t.Fatalf("round trip %d = %d: sign flipped", x, got)
		}
	}
}

func sign(x int) int {
	if x < 0 {
		return -1
	}
	return 1
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestGoertzel(t *testing.T) {
	const n, fs, a = 8000, 8000.0, 10000.0
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(a * math.Sin(2*math.Pi*440*float64(i)/fs)))
	}
	norm := float64(n*n) / 4
	if got := Goertzel(s, 440, fs) / norm; math.Abs(got-a*a)/(a*a) > 0.01 {
		t.Errorf("power at 440 Hz = %.0f, want about %.0f", got, a*a)
	}
	if got := Goertzel(s, 1000, fs) / norm; got > a*a*1e-4 {
		t.Errorf("power at 1000 Hz = %.0f, want about 0", got)
	}
	if got := Goertzel(nil, 440, fs); got != 0 {
		t.Errorf("Goertzel(nil) = %v", got)
	}
}
