package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"
)

func TestInitIdentityExportRestore(t *testing.T) {
	t.Parallel()
	bins := test.BuildBinaries(t)
	dir := filepath.Join(t.TempDir(), "alice")

	r := test.Exec(t, nil, bins.Parleyd, "init", "--data", dir, "--name", "laptop")
	if r.Code != 0 {
		t.Fatalf("init failed: %s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, "Account ID:   parley1") || !strings.Contains(r.Stdout, "Device ID:    12D3KooW") {
		t.Fatalf("init output lacks the IDs:\n%s", r.Stdout)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode: %v, %v; want 0600", fi, err)
	}

	// identity --json agrees with what init printed.
	r = test.Exec(t, nil, bins.Parleyd, "identity", "--data", dir, "--json")
	var id apitype.Identity
	if err := json.Unmarshal([]byte(r.Stdout), &id); err != nil || r.Code != 0 {
		t.Fatalf("identity --json: %v (code %d)\n%s", err, r.Code, r.Stdout)
	}
	if !strings.Contains(id.AccountCert.Subject, id.AccountID) || id.DeviceName != "laptop" || id.Devices != 1 {
		t.Fatalf("identity = %+v", id)
	}

	// openssl reads the account certificate init wrote.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: skipping the openssl check (CI installs it)")
	} else {
		out, err := exec.Command("openssl", "x509", "-noout", "-text", "-in", filepath.Join(dir, "account.pem")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ED25519") || !strings.Contains(string(out), id.AccountID) {
			t.Fatalf("openssl x509: %v\n%s", err, out)
		}
	}

	// A second init refuses to overwrite.
	r = test.Exec(t, nil, bins.Parleyd, "init", "--data", dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "refusing to overwrite") {
		t.Fatalf("second init: code %d, stderr %q", r.Code, r.Stderr)
	}

	// Export, then restore onto a new device of the same account.
	archive := filepath.Join(t.TempDir(), "alice.parley")
	env := []string{"PARLEY_ARCHIVE_PASSPHRASE=correct horse battery staple"}
	r = test.Exec(t, env, bins.Parleyd, "export", "--data", dir, "--out", archive)
	if r.Code != 0 {
		t.Fatalf("export: %s", r.Stderr)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode: %v, %v", fi, err)
	}
	r = test.Exec(t, env, bins.Parleyd, "export", "--data", dir, "--out", archive)
	if r.Code == 0 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("export over an existing file: code %d, %q", r.Code, r.Stderr)
	}

	dir2 := filepath.Join(t.TempDir(), "alice2")
	bad := test.Exec(t, []string{"PARLEY_ARCHIVE_PASSPHRASE=wrong"}, bins.Parleyd, "init", "--data", dir2, "--restore", archive)
	if bad.Code == 0 || !strings.Contains(strings.ToLower(bad.Stderr), "passphrase") {
		t.Fatalf("restore with a wrong passphrase: code %d, %q", bad.Code, bad.Stderr)
	}
	r = test.Exec(t, env, bins.Parleyd, "init", "--data", dir2, "--restore", archive, "--name", "phone", "--json")
	var id2 apitype.Identity
	if err := json.Unmarshal([]byte(r.Stdout), &id2); err != nil || r.Code != 0 {
		t.Fatalf("restore: %v (code %d) %s", err, r.Code, r.Stderr)
	}
	if id2.AccountID != id.AccountID || id2.DeviceID == id.DeviceID || id2.Devices != 2 {
		t.Fatalf("restored identity = %+v, original %+v", id2, id)
	}
}

// TestSecondProcessFailsFast holds a data dir's store open, as a running
// daemon does, and checks that parleyd on the same dir fails at once with an
// error naming the cause and the fix.
func TestSecondProcessFailsFast(t *testing.T) {
	t.Parallel()
	bins := test.BuildBinaries(t)
	dir := filepath.Join(t.TempDir(), "bob")
	if r := test.Exec(t, nil, bins.Parleyd, "init", "--data", dir); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := test.Exec(t, nil, bins.Parleyd, "identity", "--data", dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "another process holds the lock") || !strings.Contains(r.Stderr, "--data") {
		t.Fatalf("second process: code %d, stderr %q", r.Code, r.Stderr)
	}
}
