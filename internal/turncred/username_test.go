package turncred

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPasswordKnownAnswer checks Password against HMAC-SHA1 values
// computed independently with
//
//	printf %s "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
func TestPasswordKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		secret, username, want string
	}{
		{"0123456789abcdef", "1700000000:device-a", "fIotkmxWo9NUN2JdLgHCqNLzPZ0="},
		{"parley-test-secret-0001", "1700000000:12D3KooWExample", "iJ6kvaP0FkAqyPYqdQOHIoaGpRc="},
	} {
		if got := Password([]byte(tc.secret), tc.username); got != tc.want {
			t.Errorf("Password(%q, %q) = %q, want %q", tc.secret, tc.username, got, tc.want)
		}
	}
}

func TestFormatUsername(t *testing.T) {
	if got := FormatUsername(time.Unix(1_700_000_000, 999_000_000), "device-a"); got != "1700000000:device-a" {
		t.Fatalf("FormatUsername = %q", got)
	}
}

func TestParseUsername(t *testing.T) {
	long := "1700000000:" + strings.Repeat("x", MaxUsernameLen-len("1700000000:"))
	for _, tc := range []struct {
		name       string
		in         string
		wantExpiry int64
		wantID     string
		wantErr    error
	}{
		{"simple", "1700000000:device-a", 1700000000, "device-a", nil},
		{"zero expiry", "0:d", 0, "d", nil},
		{"colon in device ID", "1700000000:acct:dev", 1700000000, "acct:dev", nil},
		{"exactly max length", long, 1700000000, long[len("1700000000:"):], nil},
		{"one over max length", long + "x", 0, "", ErrUsernameTooLong},
		{"empty", "", 0, "", ErrMalformedUsername},
		{"no colon", "1700000000", 0, "", ErrMalformedUsername},
		{"empty expiry", ":device-a", 0, "", ErrMalformedUsername},
		{"empty device", "1700000000:", 0, "", ErrMalformedUsername},
		{"leading zero", "01700000000:d", 0, "", ErrMalformedUsername},
		{"plus sign", "+1700000000:d", 0, "", ErrMalformedUsername},
		{"minus sign", "-1:d", 0, "", ErrMalformedUsername},
		{"hex", "0x10:d", 0, "", ErrMalformedUsername},
		{"overflow", "9223372036854775808:d", 0, "", ErrMalformedUsername},
		{"max int64", "9223372036854775807:d", 9223372036854775807, "d", nil},
		{"space", "1700000000:a b", 0, "", ErrMalformedUsername},
		{"control char", "1700000000:a\x00b", 0, "", ErrMalformedUsername},
		{"non-ASCII", "1700000000:gerät", 0, "", ErrMalformedUsername},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expiry, id, err := ParseUsername(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseUsername(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if expiry.Unix() != tc.wantExpiry || id != tc.wantID {
				t.Errorf("ParseUsername(%q) = %d, %q; want %d, %q", tc.in, expiry.Unix(), id, tc.wantExpiry, tc.wantID)
			}
		})
	}
}

// FuzzParseUsername: a username that parses formats back to itself and
// parses again to the same parts; one that does not wraps a sentinel.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{
		"1700000000:device-a", "0:d", "1700000000:acct:dev", ":", "", "1700000000",
		"01:d", "-1:d", "9223372036854775807:d", "9223372036854775808:d", "1700000000:a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		expiry, id, err := ParseUsername(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedUsername) && !errors.Is(err, ErrUsernameTooLong) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(in) > MaxUsernameLen {
			t.Fatalf("accepted %d-byte username", len(in))
		}
		if got := FormatUsername(expiry, id); got != in {
			t.Fatalf("round trip: parse(%q) → format = %q", in, got)
		}
		e2, id2, err := ParseUsername(FormatUsername(expiry, id))
		if err != nil || !e2.Equal(expiry) || id2 != id {
			t.Fatalf("reparse of %q = %v %q %v", in, e2, id2, err)
		}
	})
}
