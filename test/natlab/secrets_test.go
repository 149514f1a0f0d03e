package natlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestToneMatcher(t *testing.T) {
	t.Parallel()
	m, err := NewToneMatcher(CallerToneHz, CalleeToneHz)
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 64<<10)
	_, _ = rand.Read(noise)
	if f, off, ok := m.Find(noise); ok {
		t.Fatalf("found a %v Hz tone at %d in random bytes", f, off)
	}
	for _, f := range []float64{CallerToneHz, CalleeToneHz} {
		hay := append(append(bytes.Clone(noise[:100]), m.Payloads[f][7:7+toneWindow]...), noise[100:200]...)
		// The tone is periodic: random bytes just before the splice that
		// happen to continue it backwards would move the match earlier.
		for i := 99; i >= 93 && hay[i] == m.Payloads[f][i-93]; i-- {
			hay[i] ^= 0xff
		}
		got, off, ok := m.Find(hay)
		if !ok || got != f || off != 100 {
			t.Errorf("%v Hz: Find = %v, %d, %v", f, got, off, ok)
		}
	}
}

func TestParseKeyLog(t *testing.T) {
	t.Parallel()
	key, salt := strings.Repeat("ab", 16), strings.Repeat("cd", 12)
	line := "SRTP profile=7 local_key=" + key + " local_salt=" + salt + " remote_key=" + strings.Repeat("01", 16) + " remote_salt=" + strings.Repeat("02", 12) + "\n"
	for _, tc := range []struct {
		name string
		in   string
		n    int
		err  bool
	}{
		{"one", line, 1, false},
		{"two and noise", "# comment\n" + line + line, 2, false},
		{"empty", "", 0, false},
		{"bad hex", strings.Replace(line, "local_key="+key, "local_key=zz", 1), 0, true},
		{"missing salt", strings.Replace(line, "local_salt="+salt, "", 1), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := parseKeyLog(strings.NewReader(tc.in))
			if (err != nil) != tc.err || (err == nil && len(ks) != tc.n) {
				t.Fatalf("got %d entries, %v", len(ks), err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if tc.n > 0 && hex.EncodeToString(ks[0].LocalKey) != key {
				t.Fatalf("local key %x", ks[0].LocalKey)
			}
		})
	}
}

func TestFindNeedles(t *testing.T) {
	t.Parallel()
	k := SRTPKeys{LocalKey: []byte("0123456789abcdef"), LocalSalt: []byte("saltsaltsalt"), RemoteKey: bytes.Repeat([]byte{0xab, 0xcd}, 8), RemoteSalt: []byte("tlastlastlas")}
	needles := k.Needles("x")
	if len(needles) != 4*5 {
		t.Fatalf("%d needles", len(needles))
	}
	for _, tc := range []struct {
		name string
		hay  []byte
		want int
	}{
		{"clean", []byte("nothing to see here"), 0},
		{"raw key", []byte("..0123456789abcdef.."), 1},
		{"hex salt", []byte("id=" + hex.EncodeToString([]byte("tlastlastlas"))), 1},
		{"HEX key", []byte(strings.ToUpper(hex.EncodeToString(bytes.Repeat([]byte{0xab, 0xcd}, 8)))), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FindNeedles(tc.hay, needles); len(got) != tc.want {
				t.Fatalf("found %v", got)
			}
		})
	}
}
