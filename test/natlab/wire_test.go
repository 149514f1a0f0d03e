package natlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildPacket encodes an IPv4 packet with a TCP or UDP header (checksums
// zero: the decoder does not check them).
func buildPacket(p Packet) []byte {
	var l4 []byte
	switch p.Proto {
	case protoUDP:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[0:2], p.Src.Port())
		binary.BigEndian.PutUint16(l4[2:4], p.Dst.Port())
		binary.BigEndian.PutUint16(l4[4:6], uint16(8+len(p.Payload)))
	case protoTCP:
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:2], p.Src.Port())
		binary.BigEndian.PutUint16(l4[2:4], p.Dst.Port())
		binary.BigEndian.PutUint32(l4[4:8], p.Seq)
		l4[12] = 5 << 4
		l4[13] = p.Flags
	}
	b := make([]byte, 20, 20+len(l4)+len(p.Payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(l4)+len(p.Payload)))
	b[8] = 64
	b[9] = p.Proto
	src, dst := p.Src.Addr().As4(), p.Dst.Addr().As4()
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	return append(append(b, l4...), p.Payload...)
}

var (
	cli = netip.MustParseAddrPort("5.0.1.2:40000")
	srv = netip.MustParseAddrPort("5.0.0.1:4001")
)

func TestParsePacket(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
		want Packet
		err  bool
	}{
		{"udp", buildPacket(Packet{Src: cli, Dst: srv, Proto: protoUDP, Payload: []byte("hi")}), Packet{Src: cli, Dst: srv, Proto: protoUDP, Payload: []byte("hi")}, false},
		{"tcp", buildPacket(Packet{Src: srv, Dst: cli, Proto: protoTCP, Seq: 7, Flags: tcpSYN, Payload: []byte{}}), Packet{Src: srv, Dst: cli, Proto: protoTCP, Seq: 7, Flags: tcpSYN, Payload: []byte{}}, false},
		{"icmp", buildPacket(Packet{Src: cli, Dst: srv, Proto: 1, Payload: []byte{8, 0}}), Packet{Src: netip.AddrPortFrom(cli.Addr(), 0), Dst: netip.AddrPortFrom(srv.Addr(), 0), Proto: 1, Payload: []byte{8, 0}}, false},
		{"ipv6", []byte{0x60, 0, 0, 0}, Packet{}, true},
		{"short", []byte{0x45, 0, 0}, Packet{}, true},
		{"truncated udp", buildPacket(Packet{Src: cli, Dst: srv, Proto: protoUDP})[:24], Packet{}, true},
		{"bad tcp offset", func() []byte {
			b := buildPacket(Packet{Src: cli, Dst: srv, Proto: protoTCP})
			b[32] = 15 << 4
			return b
		}(), Packet{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePacket(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if got.Src != tc.want.Src || got.Dst != tc.want.Dst || got.Proto != tc.want.Proto || got.Seq != tc.want.Seq ||
				got.Flags != tc.want.Flags || !bytes.Equal(got.Payload, tc.want.Payload) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func seg(seq uint32, flags uint8, data string) Packet {
	return Packet{Src: cli, Dst: srv, Proto: protoTCP, Seq: seq, Flags: flags, Payload: []byte(data)}
}

func TestReassemble(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		in        []Packet
		want      string
		fromStart bool
		gap       bool
	}{
		{"in order", []Packet{seg(99, tcpSYN, ""), seg(100, 0, "hello "), seg(106, 0, "world")}, "hello world", true, false},
		{"out of order", []Packet{seg(99, tcpSYN, ""), seg(106, 0, "world"), seg(100, 0, "hello ")}, "hello world", true, false},
		{"retransmission and overlap", []Packet{seg(99, tcpSYN, ""), seg(100, 0, "hel"), seg(100, 0, "hello"), seg(103, 0, "lo world")}, "hello world", true, false},
		{"gap", []Packet{seg(99, tcpSYN, ""), seg(100, 0, "ab"), seg(110, 0, "zz")}, "ab", true, true},
		{"no SYN", []Packet{seg(500, 0, "cd"), seg(498, 0, "ab")}, "abcd", false, false},
		{"sequence wraps", []Packet{seg(0xfffffffe, tcpSYN, ""), seg(0xffffffff, 0, "ab"), seg(1, 0, "cd")}, "abcd", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Reassemble(tc.in)
			if len(got) != 1 {
				t.Fatalf("%d streams", len(got))
			}
			s := got[0]
			if string(s.Data) != tc.want || s.FromStart != tc.fromStart || s.Gap != tc.gap {
				t.Fatalf("got %q fromStart %v gap %v; want %q %v %v", s.Data, s.FromStart, s.Gap, tc.want, tc.fromStart, tc.gap)
			}
		})
	}
}

// ms frames a multistream-select message.
func msMsg(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s)+1)), s+"\n"...) }

func tlsRecord(typ byte, body []byte) []byte {
	b := []byte{typ, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(b[3:5], uint16(len(body)))
	return append(b, body...)
}

func noiseFrame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

func TestCheckSecureChannel(t *testing.T) {
	t.Parallel()
	hello := append([]byte{1}, bytes.Repeat([]byte{0xaa}, 40)...)
	sealed := bytes.Repeat([]byte{0x5c}, 40)
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name     string
		in       []byte
		security string
		err      bool
	}{
		{"tls", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), tlsRecord(22, hello), tlsRecord(20, []byte{1}), tlsRecord(23, sealed)), "/tls/1.0.0", false},
		{"tls truncated at the end", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), tlsRecord(22, hello), tlsRecord(23, sealed)[:20]), "/tls/1.0.0", false},
		{"noise after na", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), msMsg("na"), msMsg("/noise"), noiseFrame(make([]byte, 32)), noiseFrame(sealed)), "/noise", false},
		{"application protocol in clear", cat(msMsg("/multistream/1.0.0"), msMsg("/parley/call/1.0.0")), "", true},
		{"plaintext after security", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), []byte("GET / HTTP/1.1\r\n")), "/tls/1.0.0", true},
		{"handshake record after encryption", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), tlsRecord(23, sealed), tlsRecord(22, hello)), "/tls/1.0.0", true},
		{"finished in clear", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), tlsRecord(22, append([]byte{20}, sealed...))), "/tls/1.0.0", true},
		{"short tls record", cat(msMsg("/multistream/1.0.0"), msMsg("/tls/1.0.0"), tlsRecord(23, []byte("hi"))), "/tls/1.0.0", true},
		{"short noise frame", cat(msMsg("/multistream/1.0.0"), msMsg("/noise"), noiseFrame(make([]byte, 32)), noiseFrame([]byte("hello"))), "/noise", true},
		{"no negotiation", []byte("hello world"), "", true},
		{"empty", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := CheckSecureChannel(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil && !errors.Is(err, ErrCleartext) {
				t.Fatalf("err = %v, want ErrCleartext", err)
			}
			if sc.Security != tc.security {
				t.Fatalf("security %q, want %q", sc.Security, tc.security)
			}
		})
	}
}

func TestCheckQUIC(t *testing.T) {
	t.Parallel()
	long := append([]byte{0xc3, 0, 0, 0, 1}, make([]byte, 20)...)
	for _, tc := range []struct {
		name string
		in   []byte
		err  bool
	}{
		{"long header v1", long, false},
		{"short header", append([]byte{0x43}, make([]byte, 20)...), false},
		{"unknown version", append([]byte{0xc3, 0, 0, 0, 9}, make([]byte, 20)...), true},
		{"fixed bit clear", append([]byte{0x03}, make([]byte, 20)...), true},
		{"rtp", append([]byte{0x80, 0}, make([]byte, 20)...), true},
		{"tiny", []byte{0x40}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckQUIC(tc.in); (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
		})
	}
}

func TestNetlinkRoundTrip(t *testing.T) {
	t.Parallel()
	hdr := make([]byte, 7)
	binary.BigEndian.PutUint32(hdr[0:4], 12345)
	pkt := nfqMessage(nfqnlMsgPacket, 0, 9, 3, nlattr(nfqaPacketHdr, hdr), nlattr(10, []byte("payload")))
	two := append(slices.Clone(pkt), verdictMessage(3, 12345)...)
	msgs, err := parseNetlink(two)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("parseNetlink: %d messages, %v", len(msgs), err)
	}
	if msgs[0].Type != nfnlSubsysQueue<<8|nfqnlMsgPacket || msgs[0].Seq != 9 {
		t.Fatalf("message 0: %+v", msgs[0])
	}
	p, err := parseQueuedPacket(msgs[0].Payload)
	if err != nil || p != (queuedPacket{Queue: 3, ID: 12345}) {
		t.Fatalf("parseQueuedPacket = %+v, %v", p, err)
	}
	attrs, err := parseAttrs(msgs[1].Payload[nfgenHdrLen:])
	if err != nil || len(attrs[nfqaVerdictHdr]) != 8 || binary.BigEndian.Uint32(attrs[nfqaVerdictHdr][4:]) != 12345 {
		t.Fatalf("verdict attrs %v, %v", attrs, err)
	}
	for _, bad := range [][]byte{pkt[:10], append(slices.Clone(pkt), 1, 2, 3)} {
		if _, err := parseNetlink(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseNetlink(%d bytes) = %v, want ErrMalformed", len(bad), err)
		}
	}
	if _, err := parseQueuedPacket(nfqMessage(nfqnlMsgPacket, 0, 0, 1)[nlmsgHdrLen:]); !errors.Is(err, ErrMalformed) {
		t.Errorf("packet without header: %v", err)
	}
}

func TestQueueFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		err  bool
	}{
		{"ok", "3=25ms", false},
		{"zero delay", "1=0s", false},
		{"no delay", "3", true},
		{"bad queue", "x=1ms", true},
		{"negative", "1=-1ms", true},
		{"too big", "70000=1ms", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queueFlag{}
			if err := q.Set(tc.in); (err != nil) != tc.err {
				t.Fatalf("Set(%q) = %v", tc.in, err)
			}
		})
	}
	q := queueFlag{}
	_ = q.Set("3=25ms")
	if q[3] != 25*time.Millisecond {
		t.Fatalf("q = %v", q)
	}
}

// TestExpect pins the theory table of the 25 cells.
func TestExpect(t *testing.T) {
	t.Parallel()
	want := map[[2]Kind]string{}
	for _, a := range Kinds {
		for _, b := range Kinds {
			want[[2]Kind{a, b}] = "relay"
		}
	}
	for _, c := range [][2]Kind{{None, None}, {None, Cone}, {None, Symmetric}, {Cone, None}, {Symmetric, None}, {Cone, Cone}} {
		want[c] = "direct"
	}
	for _, k := range Kinds {
		want[[2]Kind{k, UDPBlocked}] = "relay (tcp)"
		want[[2]Kind{UDPBlocked, k}] = "relay (tcp)"
		want[[2]Kind{k, TCP443}] = "relay (tcp)"
		want[[2]Kind{TCP443, k}] = "relay (tcp)"
	}
	for c, w := range want {
		if got := Expect(c[0], c[1]).String(); got != w {
			t.Errorf("Expect(%v, %v) = %s, want %s", c[0], c[1], got, w)
		}
	}
}

func TestRouterRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    Kind
		has     []string
		hasNot  []string
		noRules bool
	}{
		{kind: None, noRules: true},
		{kind: Cone, has: []string{"MASQUERADE\n", ":FORWARD DROP", "--ctstate NEW -j DROP"}, hasNot: []string{"random-fully", "-p udp"}},
		{kind: Symmetric, has: []string{"MASQUERADE --random-fully"}, hasNot: []string{"-p udp"}},
		{kind: UDPBlocked, has: []string{"-A FORWARD -p udp -j DROP", "-A FORWARD -i lan -o wan -j ACCEPT"}, hasNot: []string{"random-fully"}},
		{kind: TCP443, has: []string{"MASQUERADE\n", "-A FORWARD -i lan -o wan -p tcp --dport 443 -j ACCEPT"}, hasNot: []string{"random-fully", "-A FORWARD -i lan -o wan -j ACCEPT"}},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			r := routerRules(tc.kind)
			if tc.noRules != (r == "") {
				t.Fatalf("rules %q", r)
			}
			for _, s := range tc.has {
				if !strings.Contains(r, s) {
					t.Errorf("missing %q in\n%s", s, r)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(r, s) {
					t.Errorf("unexpected %q in\n%s", s, r)
				}
			}
		})
	}
}
