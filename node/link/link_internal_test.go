package link

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/wire"

	"github.com/parleyhq/parley/node/service"

	ma "github.com/multiformats/go-multiaddr"

	pcrypto "github.com/parleyhq/parley/crypto"
)

// testLinkCode is a code with fixed contents.
func testLinkCode(t testing.TB) *LinkCode {
	t.Helper()
	dk, err := pcrypto.DeviceKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &LinkCode{Device: dk.ID(), Expires: time.Unix(1_900_000_000, 0)}
	for i := range c.Secret {
		c.Secret[i] = byte(i)
	}
	for _, s := range []string{
		"/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq/p2p-circuit",
		"/ip4/192.168.1.20/udp/53000/quic-v1",
	} {
		c.Addrs = append(c.Addrs, ma.StringCast(s))
	}
	return c
}

func TestLinkCodeRoundTrip(t *testing.T) {
	c := testLinkCode(t)
	text := c.String()
	if text == "" || strings.ContainsAny(text, "=abcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("text form %q", text)
	}
	tests := []struct {
		name string
		in   string
	}{
		{"as printed", text},
		{"lower case", strings.ToLower(text)},
		{"no dashes", strings.ReplaceAll(text, "-", "")},
		{"spaces and a newline", strings.ReplaceAll(text, "-", " ") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLinkCode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != text || got.Device != c.Device || got.Secret != c.Secret || !got.Expires.Equal(c.Expires) || len(got.Addrs) != 2 {
				t.Fatalf("parsed %+v, want %+v", got, c)
			}
		})
	}
}

func TestLinkCodeRefusals(t *testing.T) {
	text := testLinkCode(t).String()
	// Change one character of the secret part: the check catches it.
	typo := []byte(text)
	if typo[20] == 'A' {
		typo[20] = 'B'
	} else {
		typo[20] = 'A'
	}
	tests := []struct {
		name, in, want string
	}{
		{"typo", string(typo), "check failed"},
		{"truncated", text[:len(text)-10], "check failed"},
		{"too short", "ABCD-EFGH", "too short"},
		{"not base32", text[:8] + "!" + text[9:], "not valid base32"},
		{"empty", "", "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLinkCode(tt.in)
			if !errors.Is(err, service.ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want service.ErrInvalidInput mentioning %q", err, tt.want)
			}
		})
	}
}

// TestLinkSASKnownAnswer pins the SAS derivation (values computed
// independently with Python's hmac module; see docs/protocol.md).
func TestLinkSASKnownAnswer(t *testing.T) {
	secret := bytes.Repeat([]byte{0x11}, 16)
	a, n := pcrypto.DeviceID("approver"), pcrypto.DeviceID("new-device")
	na, nn := bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)
	got := linkSAS(secret, a, n, na, nn)
	if got != linkSASKAT {
		t.Fatalf("SAS = %q, want %q", got, linkSASKAT)
	}
	if other := linkSAS(secret, n, a, na, nn); other == got {
		t.Fatal("swapping the devices does not change the SAS")
	}
	if normalizeSAS(" 123-456 ") != "123456" {
		t.Fatal("normalizeSAS")
	}
}

func TestLinkMsgValidation(t *testing.T) {
	tests := []struct {
		name string
		m    linkMsg
		ok   bool
	}{
		{"hello", linkMsg{Type: linkHello, AccountCert: []byte{1}, DeviceCert: []byte{1}, Commit: make([]byte, 32), Proof: make([]byte, 32)}, true},
		{"hello without proof", linkMsg{Type: linkHello, AccountCert: []byte{1}, DeviceCert: []byte{1}, Commit: make([]byte, 32)}, false},
		{"device", linkMsg{Type: linkDevice, Name: "phone", Nonce: make([]byte, 32)}, true},
		{"device, long name", linkMsg{Type: linkDevice, Name: strings.Repeat("x", 65), Nonce: make([]byte, 32)}, false},
		{"reveal, short nonce", linkMsg{Type: linkReveal, Nonce: make([]byte, 31)}, false},
		{"transfer", linkMsg{Type: linkTransfer, DeviceCert: []byte{1}, Archive: []byte{1}}, true},
		{"error", linkMsg{Type: linkError, Code: "sas", Reason: "no"}, true},
		{"unknown type", linkMsg{Type: "gimme"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeLinkMsg(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			body, err := wire.ReadFrame(bytes.NewReader(b), maxLinkFrame)
			if err != nil {
				t.Fatal(err)
			}
			_, err = decodeLinkMsg(body)
			if (err == nil) != tt.ok {
				t.Fatalf("decode error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestLinkErrorCodes(t *testing.T) {
	for code, sentinel := range linkErrors {
		err := linkErrorFrom(code, "why")
		if !errors.Is(err, sentinel) || linkErrorCode(err) != code {
			t.Errorf("code %q: %v maps back to %q", code, err, linkErrorCode(err))
		}
	}
	if err := linkErrorFrom("novel", "why"); !errors.Is(err, ErrLinkRefused) || !strings.Contains(err.Error(), "why") {
		t.Errorf("unknown code: %v", err)
	}
}

func FuzzParseLinkCode(f *testing.F) {
	f.Add(testLinkCode(f).String())
	f.Add("AAAA-BBBB")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseLinkCode(s)
		if err != nil {
			return
		}
		again, err := ParseLinkCode(c.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", c.String(), err)
		}
		if again.String() != c.String() {
			t.Fatalf("round trip changed the code")
		}
	})
}

// FuzzDecodeLinkCode fuzzes the binary decoder behind the check bytes
// (which FuzzParseLinkCode's mutations almost never get past): the input
// is a body, given its correct check. A code that decodes must marshal back
// to the same bytes and decode again.
func FuzzDecodeLinkCode(f *testing.F) {
	good := must(testLinkCode(f).Marshal())
	f.Add(good[:len(good)-linkCheckLen])
	f.Add([]byte{linkCodeVersion})
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		b := append(bytes.Clone(body), sum[:linkCheckLen]...)
		c, err := DecodeLinkCode(b)
		if err != nil {
			if !errors.Is(err, service.ErrInvalidInput) {
				t.Fatalf("error %v is not ErrInvalidInput", err)
			}
			return
		}
		again, err := c.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-marshal: %v\n got %x\nwant %x", err, again, b)
		}
		if _, err := DecodeLinkCode(again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeLinkMsg(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"device","name":"phone","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{"v":1,"type":"error","code":"sas","reason":"no"}`))
	f.Add([]byte(`{"v":1,"type":"done"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeLinkMsg(b)
		if err != nil {
			return
		}
		enc, err := encodeLinkMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		body, err := wire.ReadFrame(bytes.NewReader(enc), maxLinkFrame)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeLinkMsg(body)
		if err != nil || again.Type != m.Type {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// linkSASKAT is the SAS for the inputs of TestLinkSASKnownAnswer, computed
// with Python:
//
//	m = hmac.new(b"\x11"*16, digestmod=hashlib.sha256)
//	m.update(b"parley link v1 sas")
//	for p in [b"approver", b"new-device", b"\xaa"*32, b"\xbb"*32]:
//	    m.update(struct.pack(">I", len(p)) + p)
//	v = int.from_bytes(m.digest()[:8], "big") % 10**6
const linkSASKAT = "190 728"

// TestLinkCodeRefusesSmallOrderDevice: a link code naming a device whose
// key has small order (under which any signature verifies) is refused, so
// an approver never certifies such a device (issue 19 item 3).
func TestLinkCodeRefusesSmallOrderDevice(t *testing.T) {
	c := testLinkCode(t)
	weak := make([]byte, 32)
	weak[0] = 1 // the identity point, of order 1
	c.Device = pcrypto.DeviceIDFromPublicKey(weak)
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeLinkCode(b); !errors.Is(err, pcrypto.ErrWeakKey) {
		t.Fatalf("DecodeLinkCode = %v, want ErrWeakKey", err)
	}
}

// TestDecodeLinkCodeFields refuses bodies that pass the check but break the
// layout: each field's bound, truncation and trailing bytes.
func TestDecodeLinkCodeFields(t *testing.T) {
	good := testLinkCode(t)
	pid := []byte(good.Device)
	addr := good.Addrs[1].Bytes()
	build := func(pid []byte, addrs [][]byte, extra ...byte) []byte {
		e := wire.NewEncoder([]byte{linkCodeVersion})
		e.Uint64(uint64(good.Expires.Unix()))
		e.Raw(good.Secret[:])
		e.Uint8(byte(len(pid)))
		e.Raw(pid)
		e.Uint8(byte(len(addrs)))
		for _, a := range addrs {
			e.Uint8(byte(len(a)))
			e.Raw(a)
		}
		e.Raw(extra)
		sum := sha256.Sum256(e.Data())
		return append(e.Data(), sum[:linkCheckLen]...)
	}
	tests := []struct {
		name string
		in   []byte
		want string // "" = valid
	}{
		{"valid", build(pid, [][]byte{addr}), ""},
		{"no addresses", build(pid, nil), ""},
		{"as marshalled", must(good.Marshal()), ""},
		{"empty device ID", build(nil, nil, 0, 0), "device ID"},
		{"device ID too long", build(bytes.Repeat([]byte{1}, maxLinkPeerIDLen+1), nil), "device ID"},
		{"device ID not a key", build([]byte("not a peer ID"), nil), "device ID"},
		{"too many addresses", build(pid, [][]byte{addr, addr, addr, addr, addr}), "address count"},
		{"empty address", build(pid, [][]byte{{}}), "address"},
		{"address not a multiaddr", build(pid, [][]byte{[]byte("nonsense")}), "address"},
		{"trailing byte", build(pid, [][]byte{addr}, 0), "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeLinkCode(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Device != good.Device || c.Secret != good.Secret || !c.Expires.Equal(good.Expires) {
					t.Fatalf("decoded %+v", c)
				}
				again, err := c.Marshal()
				if err != nil || !bytes.Equal(again, tt.in) {
					t.Fatalf("re-marshal differs: %v", err)
				}
				return
			}
			if !errors.Is(err, service.ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want service.ErrInvalidInput mentioning %q", err, tt.want)
			}
		})
	}
	// A truncated address count: the body ends right after the device ID.
	e := wire.NewEncoder([]byte{linkCodeVersion})
	e.Uint64(uint64(good.Expires.Unix()))
	e.Raw(good.Secret[:])
	e.Uint8(byte(len(pid)))
	e.Raw(pid)
	e.Raw([]byte{0, 0}) // pad to the minimum length, then cut below
	body := e.Data()[:e.Len()-2]
	sum := sha256.Sum256(body)
	if _, err := DecodeLinkCode(append(body, sum[:linkCheckLen]...)); err == nil {
		t.Fatal("accepted a code without an address count")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
