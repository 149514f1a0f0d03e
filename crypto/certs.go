package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"time"
	"unicode"
	"unicode/utf8"
)

// CertOptions tune certificate creation. The zero value means defaults.
type CertOptions struct {
	// NotBefore is the start of validity. Defaults to one hour ago, which
	// tolerates clock skew between devices.
	NotBefore time.Time
	// NotAfter is the end of validity. Defaults to NotBefore plus 20 years
	// for account certificates and 10 years for device certificates.
	// Device certificates never outlive their account certificate.
	NotAfter time.Time
	// Rand is the randomness for serial numbers. Defaults to crypto/rand.
	Rand io.Reader
}

const (
	accountCertLifetime = 20 * 365 * 24 * time.Hour
	deviceCertLifetime  = 10 * 365 * 24 * time.Hour
	certOrganization    = "Parley"
	accountURIPrefix    = "parley:account:"
	deviceURIPrefix     = "parley:device:"
	// MaxNameLen bounds a device or account display name in bytes.
	MaxNameLen = 64
)

// fill returns the options with defaults applied.
func (o CertOptions) fill(lifetime time.Duration) CertOptions {
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(lifetime)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial(r io.Reader) (*big.Int, error) {
	var b [16]byte
	for range 4 { // four all-zero draws in a row mean a broken reader
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("read random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
	return nil, errors.New("read random serial: randomness source returns only zeros")
}

// checkWindow rejects an empty validity window.
func (o CertOptions) checkWindow() error {
	if !o.NotBefore.Before(o.NotAfter) {
		return fmt.Errorf("%w: NotAfter %s is not after NotBefore %s", ErrInvalidCert,
			o.NotAfter.UTC().Format(time.RFC3339), o.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkName validates a display name.
func checkName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidName, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrInvalidName, r)
		}
	}
	return nil
}

// nameOU puts a non-empty display name in the Subject OU.
func nameOU(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}

// firstOU returns the first Subject OU, or "".
func firstOU(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 0 {
		return ""
	}
	return c.Subject.OrganizationalUnit[0]
}

// AccountCert is an account's self-signed X.509 CA certificate.
type AccountCert struct {
	Cert *x509.Certificate
	// ID is the account ID, derived from the certificate's public key.
	ID AccountID
	// Name is the optional public display name (Subject OU), "" if none.
	Name string
}

// CreateAccountCert makes the self-signed certificate of an account: an
// Ed25519 X.509 v3 CA certificate with Subject CN = account ID, O = Parley,
// OU = name (only when name is not empty), a URI SAN
// "parley:account:<ID>", path length 0 and SubjectKeyId = the first 20
// bytes of the account ID. The certificate is published, so the name is
// public; leave it empty to publish none.
func CreateAccountCert(k *AccountKey, name string, o CertOptions) (*AccountCert, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	if err := CheckPublicKey(k.Public()); err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	o = o.fill(accountCertLifetime)
	if err := o.checkWindow(); err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	serial, err := randomSerial(o.Rand)
	if err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	id := k.ID()
	uri, err := url.Parse(accountURIPrefix + id.String())
	if err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         id.String(),
			Organization:       []string{certOrganization},
			OrganizationalUnit: nameOU(name),
		},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          id[:20],
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, k.Public(), k.Signer())
	if err != nil {
		return nil, fmt.Errorf("crypto.CreateAccountCert: %w", err)
	}
	return ParseAccountCert(der)
}

// ParseAccountCert parses and checks an account certificate: structure,
// Ed25519 key and signature, CA profile, self-signature, and that the CN,
// URI SAN and SubjectKeyId match the ID derived from the key. It does not
// look at the clock; VerifyDevice does.
func ParseAccountCert(der []byte) (*AccountCert, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseAccountCert: %w: %w", ErrInvalidCert, err)
	}
	ac, err := checkAccountCert(c)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseAccountCert: %w", err)
	}
	return ac, nil
}

func checkAccountCert(c *x509.Certificate) (*AccountCert, error) {
	pub, err := ed25519Cert(c)
	if err != nil {
		return nil, err
	}
	id := AccountIDFromPublicKey(pub)
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return nil, fmt.Errorf("%w: not a CA certificate", ErrInvalidCert)
	case c.MaxPathLen != 0:
		return nil, fmt.Errorf("%w: path length %d, want 0", ErrInvalidCert, c.MaxPathLen)
	case c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		return nil, fmt.Errorf("%w: key usage lacks certSign or cRLSign", ErrInvalidCert)
	case c.Subject.CommonName != id.String():
		return nil, fmt.Errorf("%w: %w: subject CN %q is not the ID of the key (%s)", ErrInvalidCert, ErrWrongAccount, c.Subject.CommonName, id)
	case len(c.URIs) != 1 || c.URIs[0].String() != accountURIPrefix+id.String():
		return nil, fmt.Errorf("%w: %w: URI SAN does not name the ID of the key", ErrInvalidCert, ErrWrongAccount)
	case !bytes.Equal(c.SubjectKeyId, id[:20]):
		return nil, fmt.Errorf("%w: subject key ID does not match the account ID", ErrInvalidCert)
	case !bytes.Equal(c.RawIssuer, c.RawSubject):
		return nil, fmt.Errorf("%w: not self-issued", ErrInvalidCert)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return nil, fmt.Errorf("%w: self-signature: %w", ErrBadSignature, err)
	}
	return &AccountCert{Cert: c, ID: id, Name: firstOU(c)}, nil
}

// ed25519Cert checks a certificate's version, key and signature algorithms
// and returns its Ed25519 public key.
func ed25519Cert(c *x509.Certificate) (ed25519.PublicKey, error) {
	if c.Version != 3 {
		return nil, fmt.Errorf("%w: X.509 version %d, want 3", ErrInvalidCert, c.Version)
	}
	if c.SignatureAlgorithm != x509.PureEd25519 {
		return nil, fmt.Errorf("%w: signature algorithm %v, want Ed25519", ErrInvalidCert, c.SignatureAlgorithm)
	}
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: public key is %T, want Ed25519", ErrInvalidCert, c.PublicKey)
	}
	if err := CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCert, err)
	}
	if c.SerialNumber == nil || c.SerialNumber.Sign() <= 0 {
		return nil, fmt.Errorf("%w: serial number not positive", ErrInvalidCert)
	}
	return pub, nil
}

// Raw returns the DER encoding.
func (ac *AccountCert) Raw() []byte { return ac.Cert.Raw }

// PEM returns the PEM ("CERTIFICATE") encoding.
func (ac *AccountCert) PEM() []byte { return certPEM(ac.Cert.Raw) }

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// DeviceCert is a device certificate, signed by the account.
type DeviceCert struct {
	Cert *x509.Certificate
	// Device is the device ID, which is the ID of the certificate's key.
	Device DeviceID
	// Account is the issuing account, as named by the issuer CN. Only
	// VerifyDevice proves it.
	Account AccountID
	// Name is the human device name (Subject OU), "" if none.
	Name string
}

// IssueDeviceCert makes the certificate of a device: an Ed25519 leaf
// certificate for devicePub, signed by the account, with Subject CN =
// device ID, O = Parley, OU = name (when not empty, at most 64 bytes), a
// URI SAN "parley:device:<deviceID>", AuthorityKeyId = the account
// certificate's SubjectKeyId, key usage digitalSignature and extended key
// usage clientAuth+serverAuth. Its validity is clipped to the account
// certificate's.
func IssueDeviceCert(ak *AccountKey, ac *AccountCert, devicePub ed25519.PublicKey, name string, o CertOptions) (*DeviceCert, error) {
	if ak.ID() != ac.ID {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w: key is %s, certificate is %s", ErrWrongAccount, ak.ID().Short(), ac.ID.Short())
	}
	if err := CheckPublicKey(devicePub); err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: device key: %w", err)
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w", err)
	}
	o = o.fill(deviceCertLifetime)
	if o.NotAfter.After(ac.Cert.NotAfter) {
		o.NotAfter = ac.Cert.NotAfter
	}
	if o.NotBefore.Before(ac.Cert.NotBefore) {
		o.NotBefore = ac.Cert.NotBefore
	}
	if err := o.checkWindow(); err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w", err)
	}
	serial, err := randomSerial(o.Rand)
	if err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w", err)
	}
	dev := DeviceIDFromPublicKey(devicePub)
	uri, err := url.Parse(deviceURIPrefix + dev.String())
	if err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         dev.String(),
			Organization:       []string{certOrganization},
			OrganizationalUnit: nameOU(name),
		},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		AuthorityKeyId:        ac.Cert.SubjectKeyId,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, ac.Cert, devicePub, ak.Signer())
	if err != nil {
		return nil, fmt.Errorf("crypto.IssueDeviceCert: %w", err)
	}
	return ParseDeviceCert(der)
}

// ParseDeviceCert parses a device certificate and checks its structure:
// Ed25519 key and signature algorithm, not a CA, CN and URI SAN naming the
// device ID of the key, issuer CN naming an account ID. It does not verify
// the signature or the clock: use VerifyDevice before trusting it.
func ParseDeviceCert(der []byte) (*DeviceCert, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseDeviceCert: %w: %w", ErrInvalidCert, err)
	}
	dc, err := checkDeviceCert(c)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseDeviceCert: %w", err)
	}
	return dc, nil
}

func checkDeviceCert(c *x509.Certificate) (*DeviceCert, error) {
	pub, err := ed25519Cert(c)
	if err != nil {
		return nil, err
	}
	if c.IsCA {
		return nil, fmt.Errorf("%w: device certificate is a CA", ErrInvalidCert)
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("%w: key usage lacks digitalSignature", ErrInvalidCert)
	}
	dev := DeviceIDFromPublicKey(pub)
	if err := checkDeviceNames(c, dev); err != nil {
		return nil, err
	}
	acct, err := ParseAccountID(c.Issuer.CommonName)
	if err != nil || acct.String() != c.Issuer.CommonName {
		return nil, fmt.Errorf("%w: issuer CN is not an account ID", ErrInvalidCert)
	}
	name := firstOU(c)
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCert, err)
	}
	return &DeviceCert{Cert: c, Device: dev, Account: acct, Name: name}, nil
}

// checkDeviceNames checks that the CN and URI SAN name device dev.
func checkDeviceNames(c *x509.Certificate, dev DeviceID) error {
	if c.Subject.CommonName != dev.String() {
		return fmt.Errorf("%w: %w: subject CN %q is not the ID of the key (%s)", ErrInvalidCert, ErrWrongDevice, c.Subject.CommonName, dev)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != deviceURIPrefix+dev.String() {
		return fmt.Errorf("%w: %w: URI SAN does not name the ID of the key", ErrInvalidCert, ErrWrongDevice)
	}
	return nil
}

// Raw returns the DER encoding.
func (dc *DeviceCert) Raw() []byte { return dc.Cert.Raw }

// PEM returns the PEM ("CERTIFICATE") encoding.
func (dc *DeviceCert) PEM() []byte { return certPEM(dc.Cert.Raw) }

// Serial returns a copy of the certificate serial number, the value a CRL
// revokes.
func (dc *DeviceCert) Serial() *big.Int { return new(big.Int).Set(dc.Cert.SerialNumber) }

// VerifyDevice checks the whole chain from an account ID to a device:
//
//  1. the account certificate's key has account ID id (ErrWrongAccount);
//  2. the account certificate's self-signature (ErrBadSignature) and
//     validity at now (ErrExpired, ErrNotYetValid);
//  3. the device certificate is issued and signed by the account
//     certificate (ErrWrongAccount, ErrBadSignature);
//  4. the device certificate's validity at now (ErrExpired, ErrNotYetValid);
//  5. the device ID is the ID of the device certificate's key
//     (ErrWrongDevice);
//  6. when crl is not nil: the CRL is signed by the account (see
//     CRL.Verify) and does not list the device serial (ErrRevoked).
//
// Each error names the check that failed.
func VerifyDevice(id AccountID, ac *AccountCert, dc *DeviceCert, crl *CRL, now time.Time) error {
	if err := verifyDevice(id, ac, dc, crl, now); err != nil {
		return fmt.Errorf("crypto.VerifyDevice: %w", err)
	}
	return nil
}

func verifyDevice(id AccountID, ac *AccountCert, dc *DeviceCert, crl *CRL, now time.Time) error {
	if ac == nil || ac.Cert == nil || dc == nil || dc.Cert == nil {
		return fmt.Errorf("%w: missing certificate", ErrInvalidCert)
	}
	apub, ok := ac.Cert.PublicKey.(ed25519.PublicKey)
	if !ok || AccountIDFromPublicKey(apub) != id || ac.ID != id {
		return fmt.Errorf("account certificate: %w: want %s", ErrWrongAccount, id.Short())
	}
	if _, err := checkAccountCert(ac.Cert); err != nil {
		return fmt.Errorf("account certificate: %w", err)
	}
	if err := checkValidity(ac.Cert, now); err != nil {
		return fmt.Errorf("account certificate: %w", err)
	}
	if !bytes.Equal(dc.Cert.RawIssuer, ac.Cert.RawSubject) || dc.Account != id {
		return fmt.Errorf("device certificate: %w: issued by another account", ErrWrongAccount)
	}
	if err := dc.Cert.CheckSignatureFrom(ac.Cert); err != nil {
		return fmt.Errorf("device certificate: %w: %w", ErrBadSignature, err)
	}
	if err := checkValidity(dc.Cert, now); err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	dpub, err := ed25519Cert(dc.Cert)
	if err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	if dev := DeviceIDFromPublicKey(dpub); dc.Device != dev {
		return fmt.Errorf("device certificate: %w: names %s, key is %s", ErrWrongDevice, dc.Device.Short(), dev.Short())
	}
	if err := checkDeviceNames(dc.Cert, dc.Device); err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	if crl == nil {
		return nil
	}
	if err := crl.Verify(ac); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	if crl.IsRevoked(dc.Cert.SerialNumber) {
		return fmt.Errorf("%w: device %s (serial %x) is on revocation list #%v", ErrRevoked, dc.Device.Short(), dc.Cert.SerialNumber, crl.Number)
	}
	return nil
}

// checkValidity checks a certificate's validity window against now.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: valid from %s, now is %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w: valid until %s, now is %s", ErrExpired, c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// ParsePEMOrDER returns the DER bytes of b, which is either DER or a single
// PEM block (any type; surrounding white space allowed).
func ParsePEMOrDER(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if !bytes.HasPrefix(t, []byte("-----BEGIN ")) {
		return b, nil
	}
	blk, rest := pem.Decode(t)
	if blk == nil {
		return nil, fmt.Errorf("crypto.ParsePEMOrDER: %w: bad PEM", ErrMalformed)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("crypto.ParsePEMOrDER: %w: more than one PEM block", ErrMalformed)
	}
	return blk.Bytes, nil
}
