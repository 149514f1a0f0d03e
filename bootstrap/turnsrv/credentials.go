package turnsrv

import (
	"time"

	"github.com/parleyhq/parley/internal/turncred"
)

// MinSecretLen is the shortest shared secret [New] accepts, in bytes.
const MinSecretLen = 16

// Credentials issues TURN REST credentials for token that expire ttl
// after now: username is "<unix expiry>:<token>" and password is
// base64(HMAC-SHA1(secret, username)), the form of package
// internal/turncred. The credential issuer passes a token from
// [Tokens.Issue], never a device ID: STUN sends the username in clear.
//
// token should be printable ASCII without spaces and short enough for the
// username to stay within turncred.MaxUsernameLen; otherwise the server
// refuses the credentials. A ttl that is zero or negative yields credentials
// that are already expired.
func Credentials(secret []byte, token string, ttl time.Duration, now time.Time) (username, password string) {
	username = turncred.FormatUsername(now.Add(ttl), token)
	return username, turncred.Password(secret, username)
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
	return turncred.Password(s.b, username)
}

// String keeps the secret out of logs and %v output.
func (s sharedSecret) String() string { return "[redacted]" }
