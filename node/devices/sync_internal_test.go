package devices

import (
	"bytes"
	"testing"

	pcrypto "github.com/parleyhq/parley/crypto"
)

func FuzzDecodeSyncMsg(f *testing.F) {
	f.Add([]byte(`{"v":1,"account":"` + testAccountID(f) + `","entries":[{"key":"contact/x","t":5,"dev":"d","state":"accepted"}]}`))
	f.Add([]byte(`{"v":1,"account":"` + testAccountID(f) + `","code":"unknown","error":"who are you"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeSyncMsg(b)
		if err != nil {
			return
		}
		enc, err := encodeSyncMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		_, n := uvarintLen(enc)
		again, err := decodeSyncMsg(enc[n:])
		if err != nil || len(again.Entries) != len(m.Entries) || again.Account != m.Account {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func testAccountID(t testing.TB) string {
	ak, err := pcrypto.AccountKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return ak.ID().String()
}

// uvarintLen returns the value and length of the uvarint at the start of b.
func uvarintLen(b []byte) (uint64, int) {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
