package crypto

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// CRL is an account's X.509 v2 certificate revocation list of device
// certificate serials. Each new CRL carries all earlier revocations and a
// higher CRL number, so the newest one is all a peer needs.
type CRL struct {
	List *x509.RevocationList
	// Number is the CRL number, strictly increasing from 1.
	Number *big.Int
	// Account is the issuing account, as named by the issuer CN. Only
	// Verify proves it.
	Account AccountID
}

// crlLifetime is how far NextUpdate lies after ThisUpdate.
const crlLifetime = 365 * 24 * time.Hour

// CreateCRL makes the account's next CRL: it carries prev's entries (prev
// may be nil) plus serials in revoke that are not already listed, has
// Number = prev.Number + 1 (or 1), ThisUpdate = now and NextUpdate = now +
// 1 year. A zero now means time.Now().
func CreateCRL(ak *AccountKey, ac *AccountCert, prev *CRL, revoke []*big.Int, now time.Time) (*CRL, error) {
	if ak.ID() != ac.ID {
		return nil, fmt.Errorf("crypto.CreateCRL: %w: key is %s, certificate is %s", ErrWrongAccount, ak.ID().Short(), ac.ID.Short())
	}
	if now.IsZero() {
		now = time.Now()
	}
	number := big.NewInt(1)
	var entries []x509.RevocationListEntry
	if prev != nil {
		if err := prev.Verify(ac); err != nil {
			return nil, fmt.Errorf("crypto.CreateCRL: previous CRL: %w", err)
		}
		number.Add(prev.Number, number)
		for _, e := range prev.List.RevokedCertificateEntries {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevocationTime})
		}
	}
	for _, s := range revoke {
		if s == nil || s.Sign() <= 0 {
			return nil, fmt.Errorf("crypto.CreateCRL: %w: serial must be positive", ErrInvalidCRL)
		}
		if !listed(entries, s) {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: new(big.Int).Set(s), RevocationTime: now})
		}
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    number,
		ThisUpdate:                now,
		NextUpdate:                now.Add(crlLifetime),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ac.Cert, ak.Signer())
	if err != nil {
		return nil, fmt.Errorf("crypto.CreateCRL: %w", err)
	}
	c, err := ParseCRL(der)
	if err != nil {
		return nil, fmt.Errorf("crypto.CreateCRL: %w", err)
	}
	return c, nil
}

func listed(entries []x509.RevocationListEntry, serial *big.Int) bool {
	for _, e := range entries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

// ParseCRL parses a CRL and checks its structure (Ed25519 signature
// algorithm, a positive CRL number, an account ID as issuer CN). It does
// not verify the signature; use Verify.
func ParseCRL(der []byte) (*CRL, error) {
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseCRL: %w: %w", ErrInvalidCRL, err)
	}
	if l.SignatureAlgorithm != x509.PureEd25519 {
		return nil, fmt.Errorf("crypto.ParseCRL: %w: signature algorithm %v, want Ed25519", ErrInvalidCRL, l.SignatureAlgorithm)
	}
	if l.Number == nil || l.Number.Sign() <= 0 {
		return nil, fmt.Errorf("crypto.ParseCRL: %w: missing or non-positive CRL number", ErrInvalidCRL)
	}
	acct, err := ParseAccountID(l.Issuer.CommonName)
	if err != nil || acct.String() != l.Issuer.CommonName {
		return nil, fmt.Errorf("crypto.ParseCRL: %w: issuer CN is not an account ID", ErrInvalidCRL)
	}
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber == nil {
			return nil, fmt.Errorf("crypto.ParseCRL: %w: entry without serial", ErrInvalidCRL)
		}
	}
	return &CRL{List: l, Number: new(big.Int).Set(l.Number), Account: acct}, nil
}

// Verify checks that the CRL was issued and signed by the account of ac
// (ErrWrongAccount, ErrBadSignature).
func (c *CRL) Verify(ac *AccountCert) error {
	if !bytes.Equal(c.List.RawIssuer, ac.Cert.RawSubject) || c.Account != ac.ID {
		return fmt.Errorf("crypto.CRL.Verify: %w: issued by %s, want %s", ErrWrongAccount, c.Account.Short(), ac.ID.Short())
	}
	if err := c.List.CheckSignatureFrom(ac.Cert); err != nil {
		return fmt.Errorf("crypto.CRL.Verify: %w: %w", ErrBadSignature, err)
	}
	return nil
}

// IsRevoked reports whether serial is on the list. A nil CRL revokes
// nothing.
func (c *CRL) IsRevoked(serial *big.Int) bool {
	if c == nil || serial == nil {
		return false
	}
	return listed(c.List.RevokedCertificateEntries, serial)
}

// Raw returns the DER encoding.
func (c *CRL) Raw() []byte { return c.List.Raw }

// PEM returns the PEM ("X509 CRL") encoding.
func (c *CRL) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.List.Raw})
}

// Supersedes reports whether c is newer than old: a strictly greater CRL
// number, or old is nil. Both must be verified against the same account
// first.
func (c *CRL) Supersedes(old *CRL) bool {
	return old == nil || c.Number.Cmp(old.Number) > 0
}
