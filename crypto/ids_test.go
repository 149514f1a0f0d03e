package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// RFC 8032 §7.1 TEST 1 public key, used as a fixed input for ID known answers.
var katPub = mustHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")

const (
	katAccountIDHex = "a070a85f35a99fc7944422f9ea95c417491257901ee42bb33c64cd2a919087b1"
	katAccountID    = "parley15pc2she44x0u09zyytu749wyzay3y4usrmjzhveuvnxj4yvss7csh82v65"
	katDeviceID     = "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err) // test-only constant
	}
	return b
}

func TestAccountIDKnownAnswer(t *testing.T) {
	id := AccountIDFromPublicKey(katPub)
	if got := hex.EncodeToString(id[:]); got != katAccountIDHex {
		t.Fatalf("ID bytes = %s, want %s", got, katAccountIDHex)
	}
	if got := id.String(); got != katAccountID {
		t.Fatalf("ID text = %s, want %s", got, katAccountID)
	}
	if len(katAccountID) != 65 {
		t.Fatalf("text form is %d characters, want 65", len(katAccountID))
	}
}

func TestParseAccountIDForms(t *testing.T) {
	want := AccountIDFromPublicKey(katPub)
	data := strings.TrimPrefix(katAccountID, "parley1")
	chunk := func(s string, n int, sep string) string {
		var parts []string
		for len(s) > n {
			parts = append(parts, s[:n])
			s = s[n:]
		}
		return strings.Join(append(parts, s), sep)
	}
	tests := []struct{ name, in string }{
		{"canonical", katAccountID},
		{"upper case", strings.ToUpper(katAccountID)},
		{"mixed case", "PaRlEy1" + strings.ToUpper(data[:10]) + data[10:]},
		{"no prefix", data},
		{"no prefix upper", strings.ToUpper(data)},
		{"chunked spaces", "parley1 " + chunk(data, 4, " ")},
		{"chunked dashes", chunk(katAccountID, 7, "-")},
		{"chunked underscores and dots", chunk(data, 5, "_") + "."},
		{"colons", "parley1:" + chunk(data, 6, ":")},
		{"wrapped lines", chunk(katAccountID, 20, "\n") + "\n"},
		{"tabs and CRLF", "\t" + chunk(katAccountID, 30, "\r\n") + " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAccountID(tc.in)
			if err != nil {
				t.Fatalf("ParseAccountID(%q): %v", tc.in, err)
			}
			if got != want || got.String() != katAccountID {
				t.Fatalf("got %s, want %s", got, katAccountID)
			}
		})
	}
}

// nonzeroPaddingID is a checksum-valid "parley1" string whose final data
// character has padding bits set, so it is not the canonical form of any ID.
func nonzeroPaddingID() string {
	data, _ := convertBits(make([]byte, 32), 8, 5, true)
	data[len(data)-1] = 1
	return bech32mEncode(accountIDHRP, data)
}

func TestParseAccountIDErrors(t *testing.T) {
	data := strings.TrimPrefix(katAccountID, "parley1")
	tests := []struct {
		name     string
		in       string
		mentions []string
	}{
		{"empty", "", []string{"not an account ID", "parley1 followed by 58 characters"}},
		{"device ID", "12D3KooWAbCdEfGhIjKlMnOpQrStUvWxYz1234567890abcdefgh", []string{"is a device ID, not an account ID", "parley status"}},
		{"a name", "bob", []string{`"bob" is not an account ID`}},
		{"only prefix", "parley1", []string{"0 characters"}},
		{"one short", katAccountID[:64], []string{"57 characters"}},
		{"one long", katAccountID + "q", []string{"59 characters"}},
		{"bad char b", "parley1" + "b" + data[1:], []string{"bad character 'b' at position 8"}},
		{"bad char i after separators", "parley1-" + data[:3] + "i" + data[4:], []string{"bad character 'i' at position 12"}},
		{"bad char 1 in data", "parley1" + data[:5] + "1" + data[6:], []string{"'1' at position 13"}},
		{"non-ascii", "parley1" + data[:57] + "é", []string{"characters"}},
		{"other prefix", "parlex1" + data, []string{"characters"}},
		{"checksum", "parley1" + data[:57] + "q", []string{"checksum mismatch", "typo"}},
		{"non-canonical padding", nonzeroPaddingID(), []string{"not canonical"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAccountID(tc.in)
			wantErr(t, err, ErrInvalidID)
			wantErrText(t, err, tc.mentions...)
		})
	}
}

// testIDs returns a few account IDs for exhaustive error-detection tests.
func testIDs() []AccountID {
	ids := []AccountID{AccountIDFromPublicKey(katPub), {}}
	var ff AccountID
	for i := range ff {
		ff[i] = 0xff
	}
	return append(ids, ff)
}

// substitutes are the characters tried at each position: the whole bech32
// alphabet, the letters and digits outside it, and separators are not
// included because they are deliberately ignored.
const substitutes = "qpzry9x8gf2tvdw0s3jn54khce6mua7l1bio"

func TestAccountIDDetectsEverySubstitution(t *testing.T) {
	for _, id := range testIDs() {
		s := id.String()
		for i := 0; i < len(s); i++ {
			for _, c := range []byte(substitutes) {
				if c == s[i] {
					continue
				}
				mut := s[:i] + string(c) + s[i+1:]
				if got, err := ParseAccountID(mut); err == nil {
					t.Errorf("substitution %q at %d: %q parsed as %s", c, i, mut, got)
				}
			}
		}
	}
}

func TestAccountIDDetectsEveryAdjacentSwap(t *testing.T) {
	for _, id := range testIDs() {
		s := id.String()
		for i := 0; i+1 < len(s); i++ {
			if s[i] == s[i+1] {
				continue
			}
			b := []byte(s)
			b[i], b[i+1] = b[i+1], b[i]
			if got, err := ParseAccountID(string(b)); err == nil {
				t.Errorf("swap at %d: %q parsed as %s", i, b, got)
			}
		}
	}
}

func TestAccountIDMethods(t *testing.T) {
	id := AccountIDFromPublicKey(katPub)
	if got, want := id.Short(), "parley15pc2she4"; got != want {
		t.Errorf("Short = %q, want %q", got, want)
	}
	if got := id.LogValue(); got.Kind() != slog.KindString || got.String() != id.Short() {
		t.Errorf("LogValue = %v, want %q", got, id.Short())
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "account", id)
	if !strings.Contains(buf.String(), "account="+id.Short()) || strings.Contains(buf.String(), katAccountID) {
		t.Errorf("slog output %q does not use the short form", buf.String())
	}
	if id.IsZero() || !(AccountID{}).IsZero() {
		t.Error("IsZero wrong")
	}
	b := id.Bytes()
	b[0] ^= 1
	if id[0] == b[0] {
		t.Error("Bytes does not return a copy")
	}

	type wrap struct {
		ID AccountID `json:"id"`
	}
	j, err := json.Marshal(wrap{id})
	if err != nil {
		t.Fatal(err)
	}
	if string(j) != `{"id":"`+katAccountID+`"}` {
		t.Fatalf("JSON = %s", j)
	}
	var w wrap
	if err := json.Unmarshal([]byte(`{"id":"`+strings.ToUpper(katAccountID)+`"}`), &w); err != nil || w.ID != id {
		t.Fatalf("unmarshal: %v %s", err, w.ID)
	}
	err = json.Unmarshal([]byte(`{"id":"parley1qqq"}`), &w)
	wantErr(t, err, ErrInvalidID)
}

func TestDeviceIDKnownAnswer(t *testing.T) {
	d := DeviceIDFromPublicKey(katPub)
	if got := d.String(); got != katDeviceID {
		t.Fatalf("device ID = %s, want %s", got, katDeviceID)
	}
	want := append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, katPub...)
	if !bytes.Equal([]byte(d), want) {
		t.Fatalf("device ID bytes = %x, want %x", []byte(d), want)
	}
	pub, err := d.PublicKey()
	if err != nil || !pub.Equal(ed25519.PublicKey(katPub)) {
		t.Fatalf("PublicKey = %x, %v", pub, err)
	}
	if got, want := d.Short(), "…"+katDeviceID[len(katDeviceID)-8:]; got != want {
		t.Fatalf("Short = %q, want %q", got, want)
	}
	if got := d.LogValue().String(); got != d.Short() {
		t.Fatalf("LogValue = %q", got)
	}
}

func TestParseDeviceID(t *testing.T) {
	want := DeviceIDFromPublicKey(katPub)
	// A sha2-256 multihash peer ID (an RSA-style "Qm…" ID) and a secp256k1
	// identity peer ID are valid libp2p IDs but not Parley device IDs.
	sha := base58.Encode(append([]byte{0x12, 0x20}, katPub...))
	secp := base58.Encode(append([]byte{0x00, 0x25, 0x08, 0x02, 0x12, 0x21, 0x02}, katPub...))
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"canonical", katDeviceID, false},
		{"surrounding space", " \t" + katDeviceID + "\n", false},
		{"empty", "", true},
		{"not base58", katDeviceID[:10] + "0" + katDeviceID[11:], true},
		{"truncated", katDeviceID[:len(katDeviceID)-1], true},
		{"extra char", katDeviceID + "1", true},
		{"leading 1", "1" + katDeviceID, true},
		{"inner space", katDeviceID[:10] + " " + katDeviceID[10:], true},
		{"sha256 multihash", sha, true},
		{"secp256k1 key", secp, true},
		{"account ID", katAccountID, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDeviceID(tc.in)
			if tc.wantErr {
				wantErr(t, err, ErrInvalidID)
				return
			}
			wantErr(t, err)
			if got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func TestDeviceIDText(t *testing.T) {
	d := DeviceIDFromPublicKey(katPub)
	type wrap struct {
		D DeviceID `json:"d"`
	}
	j, err := json.Marshal(wrap{d})
	if err != nil || string(j) != `{"d":"`+katDeviceID+`"}` {
		t.Fatalf("JSON = %s, %v", j, err)
	}
	var w wrap
	if err := json.Unmarshal(j, &w); err != nil || w.D != d {
		t.Fatalf("unmarshal: %v %q", err, w.D)
	}
	// The zero ID round-trips as empty text.
	j, err = json.Marshal(wrap{})
	if err != nil || string(j) != `{"d":""}` {
		t.Fatalf("zero JSON = %s, %v", j, err)
	}
	if err := json.Unmarshal(j, &w); err != nil || w.D != "" {
		t.Fatalf("zero unmarshal: %v %q", err, w.D)
	}
	if err := json.Unmarshal([]byte(`{"d":"QmFoo"}`), &w); err == nil {
		t.Fatal("bad device ID accepted")
	}
	if _, err := DeviceID("junk").MarshalText(); err == nil {
		t.Fatal("MarshalText of junk succeeded")
	}
	if _, err := DeviceID("junk").PublicKey(); err == nil {
		t.Fatal("PublicKey of junk succeeded")
	}
}
