package devices

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/internal/wire"

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
		body, err := wire.ReadFrame(bytes.NewReader(enc), maxSyncMessage)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeSyncMsg(body)
		if err != nil || len(again.Entries) != len(m.Entries) || again.Account != m.Account {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// testAccountID is the account ID of a fixed test key.
func testAccountID(t testing.TB) string {
	ak, err := pcrypto.AccountKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return ak.ID().String()
}
