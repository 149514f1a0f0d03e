package records

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	record "github.com/libp2p/go-libp2p-record"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

func TestKeys(t *testing.T) {
	a, _ := fixtures(t)
	id := a.key.ID()
	if got, err := parseAccountKey(AccountKey(id)); err != nil || got != id {
		t.Fatalf("parseAccountKey(AccountKey) = %v, %v", got, err)
	}
	dev := a.devs[0].Device
	if got, err := parsePresenceKey(PresenceKey(dev)); err != nil || got != dev {
		t.Fatalf("parsePresenceKey(PresenceKey) = %v, %v", got, err)
	}
	ns, rest, err := record.SplitKey(AccountKey(id))
	if err != nil || ns != AccountNamespace || rest != string(id[:]) {
		t.Fatalf("record.SplitKey(AccountKey) = %q, %x, %v", ns, rest, err)
	}
	ns, _, err = record.SplitKey(PresenceKey(dev))
	if err != nil || ns != PresenceNamespace {
		t.Fatalf("record.SplitKey(PresenceKey) = %q, %v", ns, err)
	}
}

func TestAccountRoundTrip(t *testing.T) {
	a, _ := fixtures(t)
	tests := []struct {
		name string
		devs []*crypto.DeviceCert
		crl  *crypto.CRL
	}{
		{"two devices with CRL", a.devs, a.crl},
		{"one device without CRL", a.devs[:1], nil},
		{"no devices", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := NewAccount(a.key, a.cert, tt.devs, tt.crl, 7, time.Hour, testNow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseAccount(AccountKey(a.key.ID()), data, testNow.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got.Seq != 7 || !got.Expires.Equal(testNow.Add(time.Hour)) {
				t.Errorf("seq, expires = %d, %v; want 7, %v", got.Seq, got.Expires, testNow.Add(time.Hour))
			}
			if got.Cert.ID != a.key.ID() || len(got.Devices) != len(tt.devs) || (got.CRL == nil) != (tt.crl == nil) {
				t.Fatalf("got %+v", got)
			}
			for i, dc := range got.Devices {
				if !bytes.Equal(dc.Raw(), tt.devs[i].Raw()) {
					t.Errorf("device %d differs", i)
				}
			}
		})
	}
}

func TestPresenceRoundTrip(t *testing.T) {
	a, _ := fixtures(t)
	dk := a.devKeys[0]
	data, err := NewPresence(dk, a.key.ID(), fixAddrs, 3, 30*time.Minute, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePresence(PresenceKey(dk.ID()), data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if p.Device != dk.ID() || p.Account != a.key.ID() || p.Seq != 3 || !p.Expires.Equal(testNow.Add(30*time.Minute)) {
		t.Fatalf("got %+v", p)
	}
	if len(p.Addrs) != len(fixAddrs) {
		t.Fatalf("got %d addrs, want %d", len(p.Addrs), len(fixAddrs))
	}
	for i := range p.Addrs {
		if !p.Addrs[i].Equal(fixAddrs[i]) {
			t.Errorf("addr %d = %v, want %v", i, p.Addrs[i], fixAddrs[i])
		}
	}
	if _, err := NewPresence(dk, a.key.ID(), nil, 1, time.Minute, testNow); err != nil {
		t.Errorf("presence with no addresses: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	a, b := fixtures(t)
	tests := []struct {
		name string
		make func() error
		want error
	}{
		{"account zero TTL", func() error {
			_, err := NewAccount(a.key, a.cert, a.devs, a.crl, 1, 0, testNow)
			return err
		}, ErrBadTTL},
		{"account TTL over max", func() error {
			_, err := NewAccount(a.key, a.cert, a.devs, a.crl, 1, MaxTTL+time.Second, testNow)
			return err
		}, ErrBadTTL},
		{"account lists revoked device", func() error {
			_, err := NewAccount(a.key, a.cert, append([]*crypto.DeviceCert{a.revoked}, a.devs...), a.crl, 1, time.Hour, testNow)
			return err
		}, ErrDeviceRevoked},
		{"account lists other account's device", func() error {
			_, err := NewAccount(a.key, a.cert, b.devs, a.crl, 1, time.Hour, testNow)
			return err
		}, ErrBadDevice},
		{"account with other account's cert", func() error {
			_, err := NewAccount(a.key, b.cert, nil, nil, 1, time.Hour, testNow)
			return err
		}, ErrCertKeyMismatch},
		{"presence TTL over max", func() error {
			_, err := NewPresence(a.devKeys[0], a.key.ID(), fixAddrs, 1, 49*time.Hour, testNow)
			return err
		}, ErrBadTTL},
		{"presence too many addrs", func() error {
			_, err := NewPresence(a.devKeys[0], a.key.ID(), manyAddrs(MaxAddrs+1), 1, time.Hour, testNow)
			return err
		}, ErrTooManyAddrs},
		{"presence zero account", func() error {
			_, err := NewPresence(a.devKeys[0], crypto.AccountID{}, fixAddrs, 1, time.Hour, testNow)
			return err
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.make(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func manyAddrs(n int) []ma.Multiaddr {
	var out []ma.Multiaddr
	for i := range n {
		out = append(out, ma.StringCast(fmt.Sprintf("/ip4/192.0.2.%d/tcp/%d", i%250+1, 4000+i)))
	}
	return out
}

// corrupt returns a copy of data with byte i (counted from the end when
// negative) flipped.
func corrupt(data []byte, i int) []byte {
	c := bytes.Clone(data)
	if i < 0 {
		i += len(c)
	}
	c[i] ^= 0x01
	return c
}

func TestParseAccountRejects(t *testing.T) {
	a, b := fixtures(t)
	key := AccountKey(a.key.ID())
	good := rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, a.devs, a.crl)
	expiredDev := a.issue(t, 1, testNow.Add(-48*time.Hour), testNow.Add(-time.Hour))
	notYetDev := a.issue(t, 2, testNow.Add(time.Hour), testNow.Add(48*time.Hour))
	var tooMany []*crypto.DeviceCert
	for i := range MaxDevices + 1 {
		tooMany = append(tooMany, a.issue(t, byte(10+i), testNow.Add(-time.Hour), testNow.Add(time.Hour)))
	}
	payload := encodeAccount(hdr(1, time.Hour), a.cert, a.devs, a.crl, nil)
	badVersion := bytes.Clone(payload)
	badVersion[0] = 1 // version 1 had no admin list
	if payload[17] < 0x80 || payload[18] >= 0x80 {
		t.Fatal("test assumes a two-byte account certificate length")
	}
	// The same certificate length re-encoded in three bytes.
	nonMinimal := append(bytes.Clone(payload[:18]), payload[18]|0x80, 0x00)
	nonMinimal = append(nonMinimal, payload[19:]...)
	if _, err := decodeAccount(nonMinimal); err == nil || !strings.Contains(err.Error(), "non-minimal") {
		t.Fatalf("decodeAccount(non-minimal) = %v", err)
	}

	tests := []struct {
		name string
		key  string
		data []byte
		now  time.Time
		want error
	}{
		{"valid", key, good, testNow, nil},
		{"oversize", key, make([]byte, MaxAccountRecordSize+1), testNow, ErrTooLarge},
		{"empty", key, nil, testNow, ErrMalformed},
		{"garbage", key, []byte("not a record at all, not even close"), testNow, ErrMalformed},
		{"truncated", key, good[:len(good)-1], testNow, ErrMalformed},
		{"trailing byte", key, append(bytes.Clone(good), 0), testNow, ErrMalformed},
		{"payload trailing byte", key, signRaw(t, a.priv(), AccountContext, append(bytes.Clone(payload), 0)), testNow, ErrMalformed},
		{"payload version", key, signRaw(t, a.priv(), AccountContext, badVersion), testNow, ErrMalformed},
		{"payload truncated", key, signRaw(t, a.priv(), AccountContext, payload[:40]), testNow, ErrMalformed},
		{"non-minimal varint", key, signRaw(t, a.priv(), AccountContext, nonMinimal), testNow, ErrMalformed},
		{"wrong context", key, signRaw(t, a.priv(), PresenceContext, payload), testNow, ErrMalformed},
		{"account cert garbage", key, signRaw(t, a.priv(), AccountContext, encodeAccountRaw(hdr(1, time.Hour), []byte("junk"), nil, nil)), testNow, ErrMalformed},
		{"account cert too long", key, signRaw(t, a.priv(), AccountContext, encodeAccountRaw(hdr(1, time.Hour), make([]byte, MaxCertSize+1), nil, nil)), testNow, ErrMalformed},
		{"device cert too long", key, signRaw(t, a.priv(), AccountContext, encodeAccountRaw(hdr(1, time.Hour), a.cert.Raw(), [][]byte{make([]byte, MaxCertSize+1)}, nil)), testNow, ErrMalformed},
		{"CRL too long", key, signRaw(t, a.priv(), AccountContext, encodeAccountRaw(hdr(1, time.Hour), a.cert.Raw(), nil, make([]byte, MaxCRLSize+1))), testNow, ErrMalformed},
		{"device cert garbage", key, signRaw(t, a.priv(), AccountContext, encodeAccountRaw(hdr(1, time.Hour), a.cert.Raw(), [][]byte{[]byte("junk")}, nil)), testNow, ErrMalformed},
		{"duplicate device", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, []*crypto.DeviceCert{a.devs[0], a.devs[0]}, nil), testNow, ErrMalformed},
		{"bad signature", key, corrupt(good, -1), testNow, ErrBadSignature},
		{"payload modified", key, corrupt(good, len(good)-64-1), testNow, ErrBadSignature},
		{"signed by other account", key, rawAccount(t, b.priv(), hdr(1, time.Hour), b.cert, b.devs, b.crl), testNow, ErrWrongSigner},
		{"record under other account's key", AccountKey(b.key.ID()), good, testNow, ErrWrongSigner},
		{"cert of other account", key, rawAccount(t, a.priv(), hdr(1, time.Hour), b.cert, nil, nil), testNow, ErrCertKeyMismatch},
		{"device of other account", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, b.devs, nil), testNow, ErrBadDevice},
		{"device cert expired", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, []*crypto.DeviceCert{expiredDev}, nil), testNow, ErrBadDevice},
		{"device cert not yet valid", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, []*crypto.DeviceCert{notYetDev}, nil), testNow, ErrBadDevice},
		{"revoked device listed", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, []*crypto.DeviceCert{a.revoked}, a.crl), testNow, ErrDeviceRevoked},
		{"CRL of other account", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, a.devs, b.crl), testNow, ErrBadCRL},
		{"too many devices", key, rawAccount(t, a.priv(), hdr(1, time.Hour), a.cert, tooMany, nil), testNow, ErrTooManyDevices},
		{"expired", key, good, testNow.Add(time.Hour), ErrExpired},
		{"long expired", key, good, testNow.Add(100 * 24 * time.Hour), ErrExpired},
		{"expiry too far", key, rawAccount(t, a.priv(), hdr(1, MaxTTL+ClockSkew+time.Second), a.cert, a.devs, a.crl), testNow, ErrExpiryTooFar},
		{"expiry at limit", key, rawAccount(t, a.priv(), hdr(1, MaxTTL+ClockSkew), a.cert, a.devs, a.crl), testNow, nil},
		{"sequence 2^64-1", key, rawAccount(t, a.priv(), hdr(math.MaxUint64, time.Hour), a.cert, a.devs, a.crl), testNow, ErrSeqTooFar},
		{"sequence one past clock skew", key, rawAccount(t, a.priv(), hdr(MaxSeq(testNow)+1, time.Hour), a.cert, a.devs, a.crl), testNow, ErrSeqTooFar},
		{"sequence at clock skew", key, rawAccount(t, a.priv(), hdr(MaxSeq(testNow), time.Hour), a.cert, a.devs, a.crl), testNow, nil},
		{"presence namespace", PresenceKey(a.devs[0].Device), good, testNow, ErrBadKey},
		{"unknown namespace", "/pk/" + string(a.key.ID().Bytes()), good, testNow, ErrBadKey},
		{"short key", key[:len(key)-1], good, testNow, ErrBadKey},
		{"long key", key + "x", good, testNow, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAccount(tt.key, tt.data, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && got == nil {
				t.Fatal("nil account without error")
			}
			// The kad-dht validator agrees with the parser.
			verr := Validator(func() time.Time { return tt.now }).Validate(tt.key, tt.data)
			if (verr == nil) != (tt.want == nil) {
				t.Fatalf("Validate = %v, want %v", verr, tt.want)
			}
		})
	}
}

// encodeAccountRaw encodes an account payload from raw DER, for certificates
// that do not parse.
func encodeAccountRaw(h header, ac []byte, devs [][]byte, crl []byte) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, accountVersion, h)
	e.Bytes(ac)
	e.Uvarint(uint64(len(devs)))
	for _, d := range devs {
		e.Bytes(d)
	}
	e.Bytes(crl)
	e.Uvarint(0) // no admins
	return e.Data()
}

func TestParsePresenceRejects(t *testing.T) {
	a, b := fixtures(t)
	dk := a.devKeys[0]
	priv := func() ed25519.PrivateKey { return dk.Ed25519() }
	key := PresenceKey(dk.ID())
	id := a.key.ID()
	good := rawPresence(t, priv(), hdr(1, time.Hour), id, fixAddrs)
	payload := encodePresence(hdr(1, time.Hour), id, fixAddrs[:1])
	badAddr := encodePresenceRaw(hdr(1, time.Hour), id, [][]byte{{0xff, 0xff, 0xff}})
	emptyAddr := encodePresenceRaw(hdr(1, time.Hour), id, [][]byte{{}})
	big := rawPresence(t, priv(), hdr(1, time.Hour), id, manyAddrs(MaxAddrs))
	big = append(big, make([]byte, MaxPresenceRecordSize+1-len(big))...)

	tests := []struct {
		name string
		key  string
		data []byte
		now  time.Time
		want error
	}{
		{"valid", key, good, testNow, nil},
		{"max addrs", key, rawPresence(t, priv(), hdr(1, time.Hour), id, manyAddrs(MaxAddrs)), testNow, nil},
		{"oversize", key, big, testNow, ErrTooLarge},
		{"garbage", key, []byte("PE\x01garbage"), testNow, ErrMalformed},
		{"truncated", key, good[:len(good)-10], testNow, ErrMalformed},
		{"payload trailing byte", key, signRaw(t, priv(), PresenceContext, append(bytes.Clone(payload), 0)), testNow, ErrMalformed},
		{"payload truncated", key, signRaw(t, priv(), PresenceContext, payload[:30]), testNow, ErrMalformed},
		{"wrong context", key, signRaw(t, priv(), AccountContext, payload), testNow, ErrMalformed},
		{"bad address", key, signRaw(t, priv(), PresenceContext, badAddr), testNow, ErrMalformed},
		{"empty address", key, signRaw(t, priv(), PresenceContext, emptyAddr), testNow, ErrMalformed},
		{"zero account", key, rawPresence(t, priv(), hdr(1, time.Hour), crypto.AccountID{}, fixAddrs), testNow, ErrMalformed},
		{"bad signature", key, corrupt(good, -5), testNow, ErrBadSignature},
		{"signed by other device", key, rawPresence(t, a.devKeys[1].Ed25519(), hdr(1, time.Hour), id, fixAddrs), testNow, ErrWrongSigner},
		{"sequence 2^64-1", key, rawPresence(t, priv(), hdr(math.MaxUint64, time.Hour), id, fixAddrs), testNow, ErrSeqTooFar},
		{"sequence one past clock skew", key, rawPresence(t, priv(), hdr(MaxSeq(testNow)+1, time.Hour), id, fixAddrs), testNow, ErrSeqTooFar},
		{"signed by the account key", key, rawPresence(t, a.priv(), hdr(1, time.Hour), id, fixAddrs), testNow, ErrWrongSigner},
		{"under other device's key", PresenceKey(b.devKeys[0].ID()), good, testNow, ErrWrongSigner},
		{"too many addrs", key, rawPresence(t, priv(), hdr(1, time.Hour), id, manyAddrs(MaxAddrs+1)), testNow, ErrTooManyAddrs},
		{"addr too long", key, signRaw(t, priv(), PresenceContext, encodePresenceRaw(hdr(1, time.Hour), id, [][]byte{make([]byte, MaxAddrLen+1)})), testNow, ErrMalformed},
		{"expired", key, good, testNow.Add(time.Hour + time.Second), ErrExpired},
		{"expiry too far", key, rawPresence(t, priv(), hdr(1, 49*time.Hour), id, fixAddrs), testNow, ErrExpiryTooFar},
		{"account namespace", "/" + AccountNamespace + "/" + string(dk.ID()), good, testNow, ErrBadKey},
		{"not a device ID", "/" + PresenceNamespace + "/" + "hello", good, testNow, ErrBadKey},
		{"no slash", PresenceNamespace + "/" + string(dk.ID()), good, testNow, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePresence(tt.key, tt.data, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && got.Device != dk.ID() {
				t.Fatalf("device = %v, want %v", got.Device, dk.ID())
			}
			verr := Validator(func() time.Time { return tt.now }).Validate(tt.key, tt.data)
			if (verr == nil) != (tt.want == nil) {
				t.Fatalf("Validate = %v, want %v", verr, tt.want)
			}
		})
	}
}

func encodePresenceRaw(h header, acct crypto.AccountID, addrs [][]byte) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, presenceVersion, h)
	e.Raw(acct[:])
	e.Uvarint(uint64(len(addrs)))
	for _, a := range addrs {
		e.Bytes(a)
	}
	return e.Data()
}

func TestSelect(t *testing.T) {
	a, b := fixtures(t)
	acctKey := AccountKey(a.key.ID())
	acct := func(seq uint64, ttl time.Duration, devs []*crypto.DeviceCert) []byte {
		return rawAccount(t, a.priv(), hdr(seq, ttl), a.cert, devs, a.crl)
	}
	dk := a.devKeys[0]
	presKey := PresenceKey(dk.ID())
	pres := func(seq uint64, ttl time.Duration, addrs []ma.Multiaddr) []byte {
		return rawPresence(t, dk.Ed25519(), hdr(seq, ttl), a.key.ID(), addrs)
	}
	forgedHigh := corrupt(acct(99, time.Hour, a.devs), -1)
	otherAccount := rawAccount(t, b.priv(), hdr(50, time.Hour), b.cert, b.devs, nil)
	tieA, tieB := pres(4, time.Hour, fixAddrs[:1]), pres(4, time.Hour, fixAddrs[1:2])
	greater := tieA
	if bytes.Compare(tieB, tieA) > 0 {
		greater = tieB
	}
	acctTieA, acctTieB := acct(4, time.Hour, a.devs[:1]), acct(4, time.Hour, a.devs[1:])
	acctGreater := acctTieA
	if bytes.Compare(acctTieB, acctTieA) > 0 {
		acctGreater = acctTieB
	}

	tests := []struct {
		name   string
		key    string
		values [][]byte
		want   []byte // nil: an error is expected
	}{
		{"single", acctKey, [][]byte{acct(1, time.Hour, a.devs)}, acct(1, time.Hour, a.devs)},
		{"higher seq wins", acctKey, [][]byte{acct(1, 2*time.Hour, a.devs), acct(2, time.Hour, a.devs)}, acct(2, time.Hour, a.devs)},
		{"stale after newer", acctKey, [][]byte{acct(5, time.Hour, a.devs), acct(3, 10*time.Hour, a.devs)}, acct(5, time.Hour, a.devs)},
		{"equal seq later expiry", acctKey, [][]byte{acct(2, time.Hour, a.devs), acct(2, 2*time.Hour, a.devs), acct(1, 3*time.Hour, a.devs)}, acct(2, 2*time.Hour, a.devs)},
		{"account tie greatest bytes", acctKey, [][]byte{acctTieA, acctTieB}, acctGreater},
		{"account tie greatest bytes reversed", acctKey, [][]byte{acctTieB, acctTieA}, acctGreater},
		{"forged never selected", acctKey, [][]byte{forgedHigh, acct(1, time.Hour, a.devs)}, acct(1, time.Hour, a.devs)},
		{"other account never selected", acctKey, [][]byte{otherAccount, acct(1, time.Hour, a.devs)}, acct(1, time.Hour, a.devs)},
		{"expired never selected", acctKey, [][]byte{acct(9, -time.Minute, a.devs), acct(1, time.Hour, a.devs)}, acct(1, time.Hour, a.devs)},
		{"all invalid", acctKey, [][]byte{forgedHigh, otherAccount, []byte("junk")}, nil},
		{"empty", acctKey, nil, nil},
		{"presence higher seq", presKey, [][]byte{pres(1, time.Hour, fixAddrs), pres(3, time.Hour, fixAddrs[:1]), pres(2, time.Hour, fixAddrs)}, pres(3, time.Hour, fixAddrs[:1])},
		{"presence tie greatest bytes", presKey, [][]byte{tieA, tieB}, greater},
		{"presence tie greatest bytes reversed", presKey, [][]byte{tieB, tieA}, greater},
		{"presence wrong key", PresenceKey(b.devKeys[0].ID()), [][]byte{tieA}, nil},
	}
	v := Validator(func() time.Time { return testNow })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, err := v.Select(tt.key, tt.values)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("Select = %d, want an error", i)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.values[i], tt.want) {
				t.Fatalf("Select chose value %d, not the expected one", i)
			}
		})
	}
	if _, err := v.Select("/pk/x", [][]byte{tieA}); !errors.Is(err, record.ErrInvalidRecordType) {
		t.Errorf("Select on unknown namespace: %v", err)
	}
	if err := v.Validate("/pk/x", tieA); !errors.Is(err, record.ErrInvalidRecordType) {
		t.Errorf("Validate on unknown namespace: %v", err)
	}
}

func TestDHTOptions(t *testing.T) {
	if got := len(DHTOptions(nil)); got != 4 {
		t.Fatalf("DHTOptions: %d options, want 4", got)
	}
	v := Validator(nil)
	if len(v) != 4 || v[AccountNamespace] == nil || v[PresenceNamespace] == nil || v[BlindAccountNamespace] == nil || v[BlindPresenceNamespace] == nil {
		t.Fatalf("Validator namespaces: %v", v)
	}
}

// TestFieldBounds checks that each variable-length field is refused by its
// own bound, before anything parses it.
func TestFieldBounds(t *testing.T) {
	a, _ := fixtures(t)
	h := hdr(1, time.Hour)
	big := func(n int) []byte { return make([]byte, n+1) }
	tests := []struct {
		name    string
		payload []byte
		decode  func([]byte) error
	}{
		{"account cert", encodeAccountRaw(h, big(MaxCertSize), nil, nil), decodeAccountErr},
		{"device cert", encodeAccountRaw(h, a.cert.Raw(), [][]byte{big(MaxCertSize)}, nil), decodeAccountErr},
		{"CRL", encodeAccountRaw(h, a.cert.Raw(), nil, big(MaxCRLSize)), decodeAccountErr},
		{"address", encodePresenceRaw(h, a.key.ID(), [][]byte{big(MaxAddrLen)}), decodePresenceErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.payload); !errors.Is(err, ErrMalformed) || !errors.Is(err, wire.ErrTooLong) {
				t.Fatalf("decode = %v, want ErrMalformed and wire.ErrTooLong", err)
			}
		})
	}
}

func decodeAccountErr(b []byte) error {
	_, err := decodeAccount(b)
	return err
}

func decodePresenceErr(b []byte) error {
	_, err := decodePresence(b)
	return err
}

// TestMaxSeqKnownAnswer pins the unit of sequence numbers: Unix
// milliseconds, plus the one-minute clock skew.
func TestMaxSeqKnownAnswer(t *testing.T) {
	if got := MaxSeq(time.Unix(1000, 0)); got != 1_060_000 {
		t.Fatalf("MaxSeq(1000 s) = %d, want 1060000", got)
	}
	if got := MaxSeq(time.Unix(-3600, 0)); got != 0 {
		t.Fatalf("MaxSeq(before 1970) = %d, want 0", got)
	}
}

// TestAccountAdmins: the admin list is signed with the record, must name
// devices of the record, and has one order.
func TestAccountAdmins(t *testing.T) {
	a, _ := fixtures(t)
	key := AccountKey(a.key.ID())
	d0, d1 := a.devs[0].Device, a.devs[1].Device
	data, err := NewAccountRecord(a.key, a.cert, a.devs, []crypto.DeviceID{d1, d0, d1}, a.crl, 1, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ParseAccount(key, data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Admins) != 2 || !rec.IsAdmin(d0) || !rec.IsAdmin(d1) || !bytes.Equal(rec.Raw, data) {
		t.Fatalf("admins = %v (raw kept: %v)", rec.Admins, bytes.Equal(rec.Raw, data))
	}
	if _, err := NewAccountRecord(a.key, a.cert, a.devs[:1], []crypto.DeviceID{d1}, nil, 1, time.Hour, testNow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("admin not among the devices: err = %v", err)
	}
	lo, hi := d0, d1
	if string(lo) > string(hi) {
		lo, hi = hi, lo
	}
	unsorted := encodeAccount(hdr(1, time.Hour), a.cert, a.devs, a.crl, []crypto.DeviceID{hi, lo})
	if _, err := ParseAccount(key, signRaw(t, a.priv(), AccountContext, unsorted), testNow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unsorted admins: err = %v", err)
	}
	if _, err := NewAccountRecord(a.key, a.cert, a.devs, nil, nil, 1, MaxAccountTTL, testNow); err != nil {
		t.Fatalf("30-day account record: %v", err)
	}
	if _, err := NewPresence(a.devKeys[0], a.key.ID(), nil, 1, MaxAccountTTL, testNow); !errors.Is(err, ErrBadTTL) {
		t.Fatalf("30-day presence record: err = %v, want %v", err, ErrBadTTL)
	}
}
