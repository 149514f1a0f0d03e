package crypto

import (
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOpenSSLReadsCerts checks that a stock openssl reads our certificates
// and CRLs, i.e. that they are ordinary X.509.
func TestOpenSSLReadsCerts(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; skipping the interoperability check")
	}
	ak, ac := testAccount(t, "alice")
	_, dc := testDevice(t, ak, ac, "phone")
	crl, err := CreateCRL(ak, ac, nil, []*big.Int{dc.Serial()}, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name     string
		pem      []byte
		cmd      string
		mentions []string
	}{
		{"account cert", ac.PEM(), "x509", []string{"ED25519", "CN = " + ac.ID.String(), "CA:TRUE", "pathlen:0",
			"URI:parley:account:" + ac.ID.String(), "Certificate Sign, CRL Sign"}},
		{"device cert", dc.PEM(), "x509", []string{"ED25519", "CN = " + dc.Device.String(), "OU = phone",
			"URI:parley:device:" + dc.Device.String(), "TLS Web Client Authentication", "CA:FALSE"}},
		{"CRL", crl.PEM(), "crl", []string{"ED25519", "CN = " + ac.ID.String(), "X509v3 CRL Number", "Revoked Certificates"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".pem")
			if err := os.WriteFile(path, tc.pem, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, tc.cmd, "-noout", "-text", "-in", path).CombinedOutput()
			if err != nil {
				t.Fatalf("openssl %s: %v\n%s", tc.cmd, err, out)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(string(out), m) {
					t.Errorf("openssl output lacks %q:\n%s", m, out)
				}
			}
		})
	}
	// openssl also verifies the device certificate against the account
	// certificate as a trust anchor.
	caPath := filepath.Join(dir, "account_cert.pem")
	out, err := exec.Command(bin, "verify", "-attime", strconv.FormatInt(testEpoch.Unix(), 10), "-CAfile", caPath,
		filepath.Join(dir, "device_cert.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
}
