package ipgroup

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tt := range []struct {
		addr   string
		v4, v6 int
		want   string
	}{
		{"192.0.2.7", 32, 64, "192.0.2.7/32"},
		{"192.0.2.7", 24, 48, "192.0.2.0/24"},
		{"::ffff:192.0.2.7", 24, 48, "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48"},
	} {
		if got := Of(netip.MustParseAddr(tt.addr), tt.v4, tt.v6); got.String() != tt.want {
			t.Errorf("Of(%s, %d, %d) = %s, want %s", tt.addr, tt.v4, tt.v6, got, tt.want)
		}
	}
	if got := Host(netip.MustParseAddr("2001:db8::1")); got.String() != "2001:db8::/64" {
		t.Errorf("Host = %s", got)
	}
}
