package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST draft and coturn specify.
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxUsernameLen bounds the TURN REST username, in bytes.
const MaxUsernameLen = 256

// FormatUsername returns the TURN REST username "<expiry>:<token>" with
// the expiry in Unix seconds. token is opaque (see the package
// documentation: never a device or account ID).
func FormatUsername(expiry time.Time, token string) string {
	return strconv.FormatInt(expiry.Unix(), 10) + ":" + token
}

// ParseUsername splits a TURN REST username into its expiry and token.
// The expiry must be a canonical non-negative decimal Unix time and the
// token non-empty printable ASCII without spaces (it may contain ':';
// the username is split at the first one). ParseUsername does not check
// the expiry against the clock; expiry.Unix() gives back the exact number
// in the username.
func ParseUsername(username string) (expiry time.Time, token string, err error) {
	if len(username) > MaxUsernameLen {
		return time.Time{}, "", fmt.Errorf("turncred: parse username: %w (%d bytes)", ErrUsernameTooLong, len(username))
	}
	ts, id, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, "", fmt.Errorf("turncred: parse username: %w: no ':'", ErrMalformedUsername)
	}
	if !canonicalDecimal(ts) {
		return time.Time{}, "", fmt.Errorf("turncred: parse username: %w: expiry is not a canonical decimal", ErrMalformedUsername)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("turncred: parse username: %w: expiry: %w", ErrMalformedUsername, err)
	}
	if !validToken(id) {
		return time.Time{}, "", fmt.Errorf("turncred: parse username: %w: bad token", ErrMalformedUsername)
	}
	return time.Unix(secs, 0), id, nil
}

// Password returns the TURN REST password of username:
// base64(HMAC-SHA1(secret, username)).
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash.Write never returns an error.
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
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

func validToken(id string) bool {
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
