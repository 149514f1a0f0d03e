package turnsrv

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/turncred"
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

// FuzzParseUsername feeds untrusted TURN usernames to the parser and the
// auth handler. A username that parses must format back to itself, and the
// auth handler must accept exactly the ones that parse and have not
// expired. (internal/turncred fuzzes the parser alone.)
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
		exp, id, err := turncred.ParseUsername(in)
		expiry := exp.Unix()
		if err != nil {
			if !errors.Is(err, turncred.ErrMalformedUsername) && !errors.Is(err, turncred.ErrUsernameTooLong) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		} else {
			if got := turncred.FormatUsername(exp, id); got != in {
				t.Fatalf("round trip: parse(%q) → format = %q", in, got)
			}
			if len(in) > turncred.MaxUsernameLen {
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
