package cli

import (
	"strconv"
	"strings"
	"unicode"
)

// safe makes a string that came from the network (a contact's name or
// message, a device name, a refusal's reason) safe to print on a terminal:
// control characters — escape sequences that clear the screen or move the
// cursor, newlines that fake a row — are shown escaped, as \x1b or \n.
func safe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune reports runes a terminal may act on: C0 and C1 controls, DEL,
// and the bidirectional overrides that reorder what is shown.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
