package crypto

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"testing"
)

// testArchive returns a full archive: key, certificate, two devices, a CRL
// revoking one of them, contacts and settings.
func testArchive(t testing.TB) *Archive {
	t.Helper()
	ak, ac := testAccount(t, "alice")
	_, d1 := testDevice(t, ak, ac, "laptop")
	_, d2 := testDevice(t, ak, ac, "old phone")
	crl, err := CreateCRL(ak, ac, nil, []*big.Int{d2.Serial()}, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return &Archive{
		AccountKeySeed: ak.Seed(),
		AccountCert:    ac.Raw(),
		DeviceCerts:    [][]byte{d1.Raw(), d2.Raw()},
		CRL:            crl.Raw(),
		Contacts: []ArchiveContact{
			{AccountID: testAccountKey(t, "bob").ID(), Name: "Bob", State: "accepted", Updated: testEpoch},
			{AccountID: testAccountKey(t, "carol").ID(), State: "requested", Updated: testEpoch.Add(1)},
		},
		Settings:    map[string]string{"ring": "all", "accept_from": "contacts"},
		Created:     testEpoch,
		PresenceKey: bytes.Repeat([]byte{0x5a}, 32),
		PresenceGen: 3,
	}
}

// minimalArchive has only the key and the certificate.
func minimalArchive(t testing.TB) *Archive {
	t.Helper()
	ak, ac := testAccount(t, "alice")
	return &Archive{AccountKeySeed: ak.Seed(), AccountCert: ac.Raw(), Created: testEpoch}
}

func TestArchiveRoundTrip(t *testing.T) {
	for name, a := range map[string]*Archive{"full": testArchive(t), "minimal": minimalArchive(t)} {
		t.Run(name, func(t *testing.T) {
			pass := []byte("archive passphrase")
			data, err := a.Encrypt(pass, TestKDFParams)
			if err != nil {
				t.Fatal(err)
			}
			if string(data[:8]) != "PRLYARCH" {
				t.Fatalf("magic %q", data[:8])
			}
			if bytes.Contains(data, a.AccountKeySeed) || bytes.Contains(data, []byte("accepted")) || (a.PresenceKey != nil && bytes.Contains(data, a.PresenceKey)) {
				t.Fatal("archive contains plaintext")
			}
			got, err := DecryptArchive(data, pass)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, a) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, a)
			}
			_, err = DecryptArchive(data, []byte("Archive passphrase"))
			wantErr(t, err, ErrWrongPassphrase)
			// An archive is not a sealed file and vice versa.
			_, err = Open(pass, data)
			wantErr(t, err, ErrCorrupt)
		})
	}
}

func TestArchiveEveryFlippedByte(t *testing.T) {
	a := minimalArchive(t)
	data, err := a.Encrypt([]byte("pw"), TestKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	checkFlips(t, data, func(d []byte) error { _, err := DecryptArchive(d, []byte("pw")); return err })
	for n := range len(data) {
		_, err := DecryptArchive(data[:n], []byte("pw"))
		wantErr(t, err, ErrCorrupt)
	}
}

// sealArchiveJSON seals arbitrary plaintext in the archive format.
// withRawContacts returns j as a JSON object whose contacts are the given
// raw JSON, for contacts that an ArchiveContact cannot hold.
func withRawContacts(t *testing.T, j archiveJSON, contacts string) map[string]json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["contacts"] = json.RawMessage(contacts)
	return m
}

func sealArchiveJSON(t *testing.T, v any) []byte {
	t.Helper()
	pt, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	data, err := sealRandom(magicArchive, []byte("pw"), pt, TestKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecryptArchiveContents(t *testing.T) {
	a := testArchive(t)
	mk, mc := testAccount(t, "mallory")
	_, mdc := testDevice(t, mk, mc, "phone")
	mcrl, err := CreateCRL(mk, mc, nil, nil, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	base := func() archiveJSON {
		return archiveJSON{Version: 1, AccountKeySeed: a.AccountKeySeed, AccountCert: a.AccountCert,
			DeviceCerts: a.DeviceCerts, CRL: a.CRL, Contacts: a.Contacts, Settings: a.Settings, Created: a.Created}
	}
	tests := []struct {
		name   string
		modify func(*archiveJSON)
		raw    any // used instead of base when set
		want   []error
	}{
		{"ok", func(*archiveJSON) {}, nil, nil},
		{"version 2", func(j *archiveJSON) { j.Version = 2 }, nil, []error{ErrUnsupportedVersion}},
		{"version missing", nil, map[string]any{"account_cert": a.AccountCert}, []error{ErrUnsupportedVersion}},
		{"not JSON", nil, "just a string", []error{ErrCorrupt}},
		{"cert of another account", func(j *archiveJSON) { j.AccountCert = mc.Raw() }, nil, []error{ErrCorrupt, ErrWrongAccount}},
		{"cert garbage", func(j *archiveJSON) { j.AccountCert = []byte("x") }, nil, []error{ErrCorrupt, ErrInvalidCert}},
		{"seed short", func(j *archiveJSON) { j.AccountKeySeed = j.AccountKeySeed[:16] }, nil, []error{ErrCorrupt, ErrInvalidKey}},
		{"device of another account", func(j *archiveJSON) { j.DeviceCerts = [][]byte{mdc.Raw()} }, nil, []error{ErrCorrupt, ErrWrongAccount}},
		{"CRL of another account", func(j *archiveJSON) { j.CRL = mcrl.Raw() }, nil, []error{ErrCorrupt, ErrWrongAccount}},
		{"bad contact ID", nil, withRawContacts(t, base(), `[{"account_id":"parley1nope","state":"accepted"}]`), []error{ErrCorrupt, ErrInvalidID}},
		{"contact ID not text", nil, withRawContacts(t, base(), `[{"account_id":7,"state":"accepted"}]`), []error{ErrCorrupt}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.raw
			if v == nil {
				j := base()
				tc.modify(&j)
				v = j
			}
			_, err := DecryptArchive(sealArchiveJSON(t, v), []byte("pw"))
			wantErr(t, err, tc.want...)
		})
	}
}

func TestArchiveEncryptValidates(t *testing.T) {
	_, mc := testAccount(t, "mallory")
	tests := []struct {
		name   string
		modify func(*Archive)
		want   error
	}{
		{"mismatched cert", func(a *Archive) { a.AccountCert = mc.Raw() }, ErrWrongAccount},
		{"short seed", func(a *Archive) { a.AccountKeySeed = a.AccountKeySeed[:31] }, ErrInvalidKey},
		{"zero contact ID", func(a *Archive) { a.Contacts[0].AccountID = AccountID{} }, ErrInvalidID},
		{"short presence key", func(a *Archive) { a.PresenceKey = a.PresenceKey[:31] }, ErrInvalidKey},
		{"presence key of generation 0", func(a *Archive) { a.PresenceGen = 0 }, ErrInvalidKey},
		{"presence generation without a key", func(a *Archive) { a.PresenceKey = nil }, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := testArchive(t)
			tc.modify(a)
			_, err := a.Encrypt([]byte("pw"), TestKDFParams)
			wantErr(t, err, tc.want)
		})
	}
	_, err := testArchive(t).Encrypt([]byte("pw"), KDFParams{})
	wantErr(t, err, ErrInvalidKDFParams)
}

// TestArchiveWithoutKey: a member's link archive holds no account key and
// still must be the account's.
func TestArchiveWithoutKey(t *testing.T) {
	a := testArchive(t)
	a.AccountKeySeed = nil
	out, err := a.Encrypt([]byte("pw"), TestKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecryptArchive(out, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if b.HasAccountKey() || !bytes.Equal(b.AccountCert, a.AccountCert) {
		t.Fatal("keyless archive did not round-trip")
	}
}
