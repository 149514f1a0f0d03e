package node

import "github.com/parleyhq/parley/node/link"

// SetLinkWireTapForTest: see link.SetLinkWireTapForTest.
func SetLinkWireTapForTest(f func([]byte)) (remove func()) { return link.SetLinkWireTapForTest(f) }

// WrongSecretCodeForTest: see link.WrongSecretCodeForTest.
func WrongSecretCodeForTest(code string) string { return link.WrongSecretCodeForTest(code) }
