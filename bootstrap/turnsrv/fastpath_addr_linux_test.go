//go:build linux

package turnsrv

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRawAddrRoundTrip encodes addresses as the kernel expects them and
// decodes them back, for both socket families.
func TestRawAddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in     string
		family int
		ok     bool
	}{
		{"192.0.2.1:3478", unix.AF_INET, true},
		{"192.0.2.1:3478", unix.AF_INET6, true}, // IPv4-mapped on an IPv6 socket
		{"[::ffff:192.0.2.1]:9", unix.AF_INET, true},
		{"[2001:db8::1]:65535", unix.AF_INET6, true},
		{"[2001:db8::1]:1", unix.AF_INET, false},
	} {
		ap := netip.MustParseAddrPort(tc.in)
		raw, ok := makeRawAddr(ap, tc.family)
		if ok != tc.ok {
			t.Errorf("makeRawAddr(%s, %d) ok = %v", tc.in, tc.family, ok)
			continue
		}
		if !ok {
			continue
		}
		got, ok := raw.addrPort()
		want := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if !ok || got != want {
			t.Errorf("%s via family %d: got %v, %v; want %v", tc.in, tc.family, got, ok, want)
		}
	}
}
