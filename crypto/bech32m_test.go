package crypto

import (
	"bytes"
	"strings"
	"testing"
)

// BIP-350 test vectors: valid bech32m strings.
var bip350Valid = []string{
	"A1LQFN3A",
	"a1lqfn3a",
	"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
	"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
	"11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
	"split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
	"?1v759aa",
}

// BIP-350 test vectors: invalid bech32m strings, with the BIP's reason.
var bip350Invalid = []struct{ name, s string }{
	{"HRP character out of range 0x20", "\x20" + "1xj0phk"},
	{"HRP character out of range 0x7f", "\x7F" + "1g6xzxy"},
	{"HRP character out of range 0x80", "\x80" + "1vctc34"},
	{"overall max length exceeded", "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4"},
	{"no separator character", "qyrz8wqd2c9m"},
	{"empty HRP", "1qyrz8wqd2c9m"},
	{"invalid data character", "y1b0jsk6g"},
	{"invalid data character 2", "lt1igcx5c0"},
	{"too short checksum", "in1muywd"},
	{"invalid character in checksum", "mm1crxm3i"},
	{"invalid character in checksum 2", "au1s5cgom"},
	{"checksum calculated with uppercase form of HRP", "M1VUXWEZ"},
	{"empty HRP 2", "16plkw9"},
	{"empty HRP 3", "1p2gdwpf"},
}

func TestBech32mBIP350Valid(t *testing.T) {
	for _, s := range bip350Valid {
		t.Run(s, func(t *testing.T) {
			hrp, data, err := bech32mDecode(s)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// Re-encoding gives the lowercase input back.
			if got := bech32mEncode(hrp, data); got != strings.ToLower(s) {
				t.Fatalf("re-encode = %q, want %q", got, strings.ToLower(s))
			}
			// Any single-character change must break the checksum.
			pos := strings.LastIndexByte(s, '1') + 1
			c := []byte(strings.ToLower(s))
			c[pos] = bech32Charset[(bech32Rev[c[pos]]+1)%32]
			if _, _, err := bech32mDecode(string(c)); err == nil {
				t.Fatalf("decode of modified %q succeeded", c)
			}
		})
	}
}

func TestBech32mBIP350Invalid(t *testing.T) {
	for _, tc := range bip350Invalid {
		t.Run(tc.name, func(t *testing.T) {
			if hrp, data, err := bech32mDecode(tc.s); err == nil {
				t.Fatalf("decode(%q) = %q, %v; want error", tc.s, hrp, data)
			}
		})
	}
}

// TestBech32mKnownData checks decoded data groups against the BIP-350
// vector whose data is 31, 30, …, 0.
func TestBech32mKnownData(t *testing.T) {
	hrp, data, err := bech32mDecode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(31 - i)
	}
	if hrp != "abcdef" || !bytes.Equal(data, want) {
		t.Fatalf("got %q %v, want abcdef %v", hrp, data, want)
	}
}

func TestBech32mRejectsBech32(t *testing.T) {
	// A valid BIP-173 (bech32, not bech32m) string must not pass.
	if _, _, err := bech32mDecode("a12uel5l"); err == nil {
		t.Fatal("bech32 string accepted as bech32m")
	}
}

func TestConvertBits(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		from    uint
		to      uint
		pad     bool
		want    []byte
		wantErr bool
	}{
		{"8to5 pad", []byte{0xff}, 8, 5, true, []byte{31, 28}, false},
		{"5to8 exact", []byte{31, 28}, 5, 8, false, []byte{0xff}, false},
		{"5to8 nonzero padding", []byte{31, 29}, 5, 8, false, nil, true},
		{"5to8 too much padding", []byte{31, 28, 0}, 5, 8, false, nil, true},
		{"empty", nil, 8, 5, true, []byte{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertBits(tc.in, tc.from, tc.to, tc.pad)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
