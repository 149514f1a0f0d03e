package node

import "github.com/parleyhq/parley/node/devices"

// SetLinkWireTapForTest: see devices.SetLinkWireTapForTest.
func SetLinkWireTapForTest(f func([]byte)) (remove func()) { return devices.SetLinkWireTapForTest(f) }

// WrongSecretCodeForTest: see devices.WrongSecretCodeForTest.
func WrongSecretCodeForTest(code string) string { return devices.WrongSecretCodeForTest(code) }
