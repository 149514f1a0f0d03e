package calltransport

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// Lengths of generated ICE credentials, in characters. Each character
// carries 6 bits: 96 bits for the ufrag, 192 bits for the password (RFC
// 8445 asks for at least 24 and 128).
const (
	ufragLen = 16
	pwdLen   = 32
)

// NewCredentials returns a fresh random ICE username fragment and password
// made of RFC 8839 ice-chars.
func NewCredentials() (ufrag, pwd string) {
	return randomICEChars(ufragLen), randomICEChars(pwdLen)
}

// randomICEChars returns n characters from [A-Za-z0-9+/]: standard base64
// without padding is exactly the ice-char alphabet.
func randomICEChars(n int) string {
	b := make([]byte, n*6/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

// validateCredentials checks a ufrag and password against RFC 8839: ufrag
// 4 to 256 ice-chars, password 22 to 256 ice-chars.
func validateCredentials(ufrag, pwd string) error {
	if len(ufrag) < 4 || len(ufrag) > 256 || !iceChars(ufrag) {
		return fmt.Errorf("%w: ufrag must be 4 to 256 ice-chars", ErrBadCredentials)
	}
	if len(pwd) < 22 || len(pwd) > 256 || !iceChars(pwd) {
		return fmt.Errorf("%w: password must be 22 to 256 ice-chars", ErrBadCredentials)
	}
	return nil
}

func iceChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
		if !ok {
			return false
		}
	}
	return true
}
