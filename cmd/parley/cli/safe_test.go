package cli

import "testing"

// TestSafe: what a stranger puts in a name or message cannot act on the
// terminal (clear it, move the cursor, fake a row or a completion).
func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Bob", "Bob"},
		{"Zoë 😀", "Zoë 😀"},
		{"hello\nsecond line \x1b[2J\x07 bell", `hello\nsecond line \x1b[2J\a bell`},
		{"B\x1b[31mob\nfake accepted line", `B\x1b[31mob\nfake accepted line`},
		{"tab\there\rCR\x7f", `tab\there\rCR\x7f`},
		{"\u202eevil", `\u202eevil`},
		{"\u009b31m", `\u009b31m`},
	}
	for _, tt := range tests {
		if got := safe(tt.in); got != tt.want {
			t.Errorf("safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
