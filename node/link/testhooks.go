// Test hooks. They are in the package (not an _test file) because the
// node package's tests use them through node; only tests call them.

package link

// SetLinkWireTapForTest makes f see every link message written by any
// device of this process (framed, inside the Noise channel); the returned
// function removes it.
func SetLinkWireTapForTest(f func([]byte)) (remove func()) {
	linkWireTap.Store(&f)
	return func() { linkWireTap.Store(nil) }
}

// WrongSecretCodeForTest returns the code with another secret and a valid
// check, as an attacker who guessed would send.
func WrongSecretCodeForTest(code string) string {
	c, err := ParseLinkCode(code)
	if err != nil {
		return ""
	}
	c.Secret[0] ^= 0xff
	return c.String()
}
