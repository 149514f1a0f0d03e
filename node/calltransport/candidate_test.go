package calltransport

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseRemoteCandidate(t *testing.T) {
	tests := []struct {
		name, in string
		wantType string // "" = refused
	}{
		{"host", "1 1 udp 2130706431 127.0.0.1 50000 typ host", "host"},
		{"candidate: prefix", "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "host"},
		{"a=candidate: prefix", "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "host"},
		{"srflx with raddr", "2 1 UDP 1694498815 203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 50000", "srflx"},
		{"prflx", "3 1 udp 1862270975 203.0.113.7 61001 typ prflx", "prflx"},
		{"relay", "4 1 udp 16777215 198.51.100.1 3478 typ relay raddr 203.0.113.7 rport 61000", "relay"},
		{"IPv6", "5 1 udp 2130706431 2001:db8::2 40000 typ host generation 0", "host"},
		{"too long", "1 1 udp 2130706431 127.0.0.1 50000 typ host " + strings.Repeat("x y ", MaxCandidateLen/4), ""},
		{"garbage", "hello", ""},
		{"RTCP component", "1 2 udp 2130706431 127.0.0.1 50000 typ host", ""},
		{"TCP", "1 1 tcp 2128609279 127.0.0.1 9 typ host tcptype active", ""},
		{"mDNS name", "1 1 udp 2130706431 0a1b2c3d.local 50000 typ host", ""},
		{"hostname", "1 1 udp 1694498815 stun.example.com 50000 typ srflx raddr 0.0.0.0 rport 0", ""},
		{"unspecified", "1 1 udp 2130706431 0.0.0.0 50000 typ host", ""},
		{"multicast", "1 1 udp 2130706431 224.0.0.251 5353 typ host", ""},
		{"zone", "1 1 udp 2130706431 fe80::1%eth0 5000 typ host", "host"}, // pion strips the zone
		{"port 0", "1 1 udp 2130706431 127.0.0.1 0 typ host", ""},
		{"port too big", "1 1 udp 2130706431 127.0.0.1 70000 typ host", ""},
		{"unknown type", "1 1 udp 2130706431 127.0.0.1 5000 typ bogus", ""},
		{"priority overflow", "1 1 udp 99999999999 127.0.0.1 5000 typ host", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseRemoteCandidate(tt.in)
			if tt.wantType == "" {
				if err == nil {
					t.Fatalf("accepted %q as %s", tt.in, c)
				}
				if !errors.Is(err, ErrBadCandidate) {
					t.Fatalf("error %v is not ErrBadCandidate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := c.Type().String(); got != tt.wantType {
				t.Fatalf("type %s, want %s", got, tt.wantType)
			}
		})
	}
}

func TestAddRemoteCandidateLimit(t *testing.T) {
	l, err := NewLeg(Config{Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.AddRemoteCandidate(""); err != nil {
		t.Errorf("end-of-candidates: %v", err)
	}
	if err := l.AddRemoteCandidate("nonsense"); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("nonsense: %v, want ErrBadCandidate", err)
	}
	for i := range MaxRemoteCandidates {
		c := "1 1 udp 2130706431 127.0.0.1 " + strconv.Itoa(10000+i) + " typ host"
		if err := l.AddRemoteCandidate(c); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	if err := l.AddRemoteCandidate("1 1 udp 2130706431 127.0.0.1 9999 typ host"); !errors.Is(err, ErrTooManyCandidates) {
		t.Errorf("candidate %d: %v, want ErrTooManyCandidates", MaxRemoteCandidates+1, err)
	}
}
