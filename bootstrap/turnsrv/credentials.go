package turnsrv

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST draft and coturn specify.
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// MinSecretLen is the shortest shared secret [New] accepts, in bytes.
	MinSecretLen = 16

	// MaxUsernameLen bounds the TURN REST username, in bytes.
	MaxUsernameLen = 256
)

// Credentials issues TURN REST credentials for deviceID that expire ttl
// after now: username is "<unix expiry>:<deviceID>" and password is
// base64(HMAC-SHA1(secret, username)).
//
// deviceID should be printable ASCII without spaces and short enough for the
// username to stay within [MaxUsernameLen]; otherwise the server refuses the
// credentials. A ttl that is zero or negative yields credentials that are
// already expired.
func Credentials(secret []byte, deviceID string, ttl time.Duration, now time.Time) (username, password string) {
	username = formatUsername(now.Add(ttl).Unix(), deviceID)
	return username, restPassword(secret, username)
}

// ParseUsername splits a TURN REST username into its expiry and device ID.
// The expiry must be a canonical non-negative decimal Unix time and the
// device ID non-empty printable ASCII without spaces (it may contain ':';
// the username is split at the first one). ParseUsername does not check
// the expiry against the clock.
func ParseUsername(username string) (expiry time.Time, deviceID string, err error) {
	secs, id, err := parseUsername(username)
	if err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(secs, 0), id, nil
}

func parseUsername(username string) (expiry int64, deviceID string, err error) {
	if len(username) > MaxUsernameLen {
		return 0, "", fmt.Errorf("turnsrv: parse username: %w (%d bytes)", ErrUsernameTooLong, len(username))
	}
	ts, id, ok := strings.Cut(username, ":")
	if !ok {
		return 0, "", fmt.Errorf("turnsrv: parse username: %w: no ':'", ErrMalformedUsername)
	}
	if !canonicalDecimal(ts) {
		return 0, "", fmt.Errorf("turnsrv: parse username: %w: expiry is not a canonical decimal", ErrMalformedUsername)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("turnsrv: parse username: %w: expiry: %w", ErrMalformedUsername, err)
	}
	if !validDeviceID(id) {
		return 0, "", fmt.Errorf("turnsrv: parse username: %w: bad device ID", ErrMalformedUsername)
	}
	return secs, id, nil
}

func formatUsername(expiry int64, deviceID string) string {
	return strconv.FormatInt(expiry, 10) + ":" + deviceID
}

// canonicalDecimal reports whether s is digits only with no leading zero
// (except "0" itself), so that every expiry has exactly one spelling.
func canonicalDecimal(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validDeviceID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash.Write never returns an error.
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// sharedSecret holds the TURN REST secret. It is a struct, not a []byte,
// so it cannot be compared with == or printed by accident.
type sharedSecret struct {
	_ [0]func() // not comparable
	b []byte
}

func newSharedSecret(b []byte) sharedSecret {
	return sharedSecret{b: append([]byte(nil), b...)}
}

// password computes the TURN REST password for username.
func (s sharedSecret) password(username string) string {
	return restPassword(s.b, username)
}

// String keeps the secret out of logs and %v output.
func (s sharedSecret) String() string { return "[redacted]" }
