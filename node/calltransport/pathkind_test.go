package calltransport

import "testing"

// TestPathPrflxAtRemoteRelay: a selected pair whose remote end pion learnt
// as peer-reflexive is reported as relay once the peer's relay candidate
// at that address has arrived, and stays prflx otherwise.
func TestPathPrflxAtRemoteRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remote string // address of the selected prflx remote
		want   string
	}{
		{"at the peer's relay candidate", "203.0.113.9:50123", "relay"},
		{"elsewhere", "198.51.100.7:40000", "prflx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLeg(Config{Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.AddRemoteCandidate("candidate:1 1 udp 16777215 203.0.113.9 50123 typ relay raddr 0.0.0.0 rport 0"); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			l.path = Path{Local: "host", Remote: "prflx", Network: "udp", LocalAddress: "192.0.2.1:4000", RemoteAddress: tc.remote}
			l.mu.Unlock()
			if got := l.Path().Remote; got != tc.want {
				t.Fatalf("Path().Remote = %q, want %q", got, tc.want)
			}
		})
	}
}
