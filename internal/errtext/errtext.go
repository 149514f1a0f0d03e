// Package errtext turns an error chain into one message for a person. Go
// wraps errors clause by clause ("invalid input: account_id: invalid ID:
// crypto.ParseAccountID: …"); the chain is right for a log, but a person
// needs the cause once, then what to do. Clean drops what only the code
// reads: Go package-qualified names, bare category words that a later
// clause explains, and clauses said twice. The daemon logs the chain at
// debug level and sends the cleaned text; the CLI cleans what a peer sent
// (call end reasons) the same way.
package errtext

import (
	"regexp"
	"strings"
)

// goName is a clause that is only a Go identifier qualified by its
// package or type: "crypto.VerifyDevice", "callproto.ParseOffer",
// "(*Conn).Read".
var goName = regexp.MustCompile(`^(\(\*?[A-Za-z]\w*\)|[a-z]\w*)(\.\w+)*\.[A-Z]\w*$`)

// goPrefix is a Go-qualified name at the head of a clause that goes on
// ("callproto.ParseOffer bad signature").
var goPrefix = regexp.MustCompile(`^[a-z][a-z0-9]*\.[A-Z][A-Za-z0-9]*:?\s+`)

// categories are sentinel errors' texts that only classify: dropped when a
// later clause says what is wrong.
var categories = map[string]bool{
	"invalid input":   true,
	"invalid id":      true,
	"not allowed now": true,
}

// MaxLen bounds the cleaned message (longer input is cut with "…").
const MaxLen = 1024

// Clean returns msg as one line for a person: its clauses (separated by
// ": ") without Go-qualified names, without category words a later clause
// explains and without repeats, and without line breaks.
func Clean(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 4*MaxLen {
		msg = msg[:4*MaxLen]
	}
	parts := strings.Split(msg, ": ")
	var out []string
	seen := map[string]bool{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		for {
			q := goPrefix.ReplaceAllString(p, "")
			if q == p {
				break
			}
			p = q
		}
		if p == "" || goName.MatchString(p) {
			continue
		}
		key := strings.ToLower(strings.TrimSuffix(p, "."))
		if categories[key] && i < len(parts)-1 {
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	s := strings.Join(out, ": ")
	if len(s) > MaxLen {
		cut := MaxLen
		for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// CleanHint returns hint, or "" when msg already says it ("see: parley
// calls" is said by "… see parley calls").
func CleanHint(msg, hint string) string {
	h := strings.TrimSpace(strings.TrimPrefix(hint, "see:"))
	if h == "" || strings.Contains(strings.ToLower(msg), strings.ToLower(h)) {
		return ""
	}
	return hint
}
