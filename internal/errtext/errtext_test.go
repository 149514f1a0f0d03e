package errtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"caller is not a contact: caller is not a contact: this account only takes calls from its contacts",
			"caller is not a contact: this account only takes calls from its contacts"},
		{"refused by the callee: device revoked: callproto.ParseOffer: crypto.VerifyDevice: device revoked: certificate 7 is on the CRL",
			"refused by the callee: device revoked: certificate 7 is on the CRL"},
		{"declined: declined", "declined"},
		{"invalid input: invalid ID: \"x\" is not an account ID", "\"x\" is not an account ID"},
		{"invalid input: crypto.ParseAccountID: invalid ID: checksum mismatch", "checksum mismatch"},
		{"not allowed now: parley1x is not an accepted contact", "parley1x is not an accepted contact"},
		{"invalid input", "invalid input"},
		{"read: (*Conn).Read: EOF", "read: EOF"},
		{"two\nlines", "two lines"},
		{"no such call: 1a2b", "no such call: 1a2b"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanHint(t *testing.T) {
	if h := CleanHint("no such conference: 1a2b (see parley conference list)", "see: parley conference list"); h != "" {
		t.Errorf("hint said twice: %q", h)
	}
	if h := CleanHint("no such call: 1a2b", "see: parley calls"); h != "see: parley calls" {
		t.Errorf("hint dropped: %q", h)
	}
}

// FuzzClean: any text (a peer's end reason is untrusted) gives one valid
// UTF-8 line (if the input was valid) of bounded length, and cleaning
// again changes nothing.
func FuzzClean(f *testing.F) {
	f.Add("declined: declined")
	f.Add("invalid input: crypto.ParseAccountID: invalid ID: x")
	f.Add("a: : b:c: (*T).M: a")
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if strings.ContainsAny(c, "\n\r") {
			t.Fatalf("Clean(%q) = %q has a line break", s, c)
		}
		if len(c) > MaxLen+len("…") {
			t.Fatalf("Clean(%q) is %d bytes", s, len(c))
		}
		if utf8.ValidString(s) && !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q is not valid UTF-8", s, c)
		}
		if utf8.ValidString(s) && len(c) <= MaxLen {
			if c2 := Clean(c); c2 != c {
				t.Fatalf("Clean not idempotent: %q -> %q -> %q", s, c, c2)
			}
		}
	})
}
