package turnsrv

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCredentialsKnownAnswer checks Credentials against HMAC-SHA1 values
// computed independently with
//
//	printf %s "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
func TestCredentialsKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		secret   string
		deviceID string
		ttl      time.Duration
		now      time.Time
		wantUser string
		wantPass string
	}{
		{
			name: "device-a", secret: "0123456789abcdef", deviceID: "device-a",
			ttl: time.Hour, now: time.Unix(1_700_000_000-3600, 0),
			wantUser: "1700000000:device-a", wantPass: "fIotkmxWo9NUN2JdLgHCqNLzPZ0=",
		},
		{
			name: "peer ID", secret: "parley-test-secret-0001", deviceID: "12D3KooWExample",
			ttl: 90 * time.Second, now: time.Unix(1_700_000_000-90, 500_000_000),
			wantUser: "1700000000:12D3KooWExample", wantPass: "iJ6kvaP0FkAqyPYqdQOHIoaGpRc=",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := Credentials([]byte(tc.secret), tc.deviceID, tc.ttl, tc.now)
			if user != tc.wantUser || pass != tc.wantPass {
				t.Errorf("Credentials = %q, %q; want %q, %q", user, pass, tc.wantUser, tc.wantPass)
			}
		})
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

// FuzzParseUsername feeds untrusted TURN usernames to the parser and the
// auth handler. A username that parses must format back to itself, and
// Credentials for its parts must produce the same username.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{
		"1700000000:device-a", "0:d", "1700000000:acct:dev", ":", "", "1700000000",
		"01:d", "-1:d", "9223372036854775808:d", "1700000000:a b",
	} {
		f.Add(s)
	}
	s := &Server{
		secret:  newSharedSecret(testSecret),
		realm:   DefaultRealm,
		now:     func() time.Time { return time.Unix(1_700_000_000, 0) },
		log:     discardLogger(),
		metrics: new(Metrics),
	}
	f.Fuzz(func(t *testing.T, in string) {
		expiry, id, err := parseUsername(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedUsername) && !errors.Is(err, ErrUsernameTooLong) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		} else {
			if got := formatUsername(expiry, id); got != in {
				t.Fatalf("round trip: parse(%q) → format = %q", in, got)
			}
			e2, id2, err2 := parseUsername(formatUsername(expiry, id))
			if err2 != nil || e2 != expiry || id2 != id {
				t.Fatalf("reparse of %q = %d %q %v", in, e2, id2, err2)
			}
			if len(in) > MaxUsernameLen {
				t.Fatalf("accepted %d-byte username", len(in))
			}
		}
		userID, key, ok := s.authenticate(&turnAttrs{Username: in, Realm: DefaultRealm})
		if ok != (err == nil && expiry > 1_700_000_000) {
			t.Fatalf("authenticate(%q) ok = %v, parse err %v, expiry %d", in, ok, err, expiry)
		}
		if ok && (userID != id || len(key) != 16) {
			t.Fatalf("authenticate(%q) = %q, %d-byte key", in, userID, len(key))
		}
	})
}
