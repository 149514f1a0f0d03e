package presence

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const relayID = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"

// TestPublishableWithholdsPrivateAddrs: withheld, every private range
// (loopback, RFC 1918, link-local, ULA, CGNAT, unspecified) goes, public
// addresses, DNS names and relay addresses (even through a relay at a
// private address) stay; published, everything stays.
func TestPublishableWithholdsPrivateAddrs(t *testing.T) {
	private := []string{
		"/ip4/127.0.0.1/tcp/4001",
		"/ip4/10.200.2.2/tcp/4001",
		"/ip4/172.16.0.9/udp/4001/quic-v1",
		"/ip4/192.168.1.20/tcp/4001",
		"/ip4/169.254.3.4/tcp/4001",
		"/ip4/100.64.0.1/tcp/4001",
		"/ip4/100.127.255.254/udp/9/quic-v1",
		"/ip4/0.0.0.0/tcp/4001",
		"/ip6/::1/tcp/4001",
		"/ip6/fd00::2/tcp/4001",
		"/ip6/fe80::1/tcp/4001",
		"/ip6/::ffff:10.0.0.1/tcp/4001",
	}
	public := []string{
		"/ip4/5.0.100.2/tcp/4001",
		"/ip4/203.0.113.7/udp/4001/quic-v1",
		"/ip4/100.128.0.1/tcp/4001",
		"/ip6/2001:db8::7/tcp/4001",
		"/dns4/example.com/tcp/4001",
		"/ip4/203.0.113.7/tcp/4001/p2p/" + relayID + "/p2p-circuit",
		"/ip4/127.0.0.1/tcp/4001/p2p/" + relayID + "/p2p-circuit",
	}
	var all []ma.Multiaddr
	for _, s := range append(slices.Clone(private), public...) {
		all = append(all, ma.StringCast(s))
	}
	var got []string
	for _, a := range publishable(all, false) {
		got = append(got, a.String())
	}
	if !slices.Equal(got, public) {
		t.Errorf("withheld: published %q, want %q", got, public)
	}
	if n := len(publishable(all, true)); n != len(all) {
		t.Errorf("published: %d of %d addresses", n, len(all))
	}
}

// TestPublishPrivateAuto: auto publishes private addresses only when no
// bootstrap is at a public address.
func TestPublishPrivateAuto(t *testing.T) {
	bs := func(addrs ...string) []peer.AddrInfo {
		var out []peer.AddrInfo
		for _, a := range addrs {
			out = append(out, peer.AddrInfo{Addrs: []ma.Multiaddr{ma.StringCast(a)}})
		}
		return out
	}
	for _, c := range []struct {
		setting PrivateAddrs
		bs      []peer.AddrInfo
		want    bool
	}{
		{"", nil, true},
		{PrivateAddrsAuto, bs("/ip4/127.0.0.1/tcp/4001"), true},
		{PrivateAddrsAuto, bs("/ip4/10.0.0.1/tcp/4001", "/ip4/192.168.0.1/tcp/4001"), true},
		{PrivateAddrsAuto, bs("/ip4/10.0.0.1/tcp/4001", "/ip4/5.0.0.1/tcp/4001"), false},
		{"", bs("/dns4/boot.example.net/tcp/4001"), false},
		{PrivateAddrsWithhold, bs("/ip4/127.0.0.1/tcp/4001"), false},
		{PrivateAddrsPublish, bs("/ip4/5.0.0.1/tcp/4001"), true},
	} {
		if got := publishPrivate(c.setting, c.bs); got != c.want {
			t.Errorf("publishPrivate(%q, %v) = %v, want %v", c.setting, c.bs, got, c.want)
		}
	}
	if err := PrivateAddrs("sometimes").Check(); err == nil {
		t.Error("an unknown setting is accepted")
	}
}
