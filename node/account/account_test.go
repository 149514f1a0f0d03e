package account_test

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/store"
)

var testOpts = account.AccountOptions{DeviceName: "laptop", KDF: pcrypto.TestKDFParams}

// crashEverywhere runs op on a fresh data dir once per write transaction
// it makes, each time crashing the store just before that write (as kill -9
// would), and hands the dir as the crash left it to check.
func crashEverywhere(t *testing.T, op func(dir string) error, check func(t *testing.T, dir string, crashAt int)) {
	t.Helper()
	for n := 1; ; n++ {
		if n > 50 {
			t.Fatal("the operation never finished")
		}
		dir := filepath.Join(t.TempDir(), "data")
		disarm := store.CrashAtWriteForTest(dir, n)
		err := op(dir)
		disarm()
		if err == nil {
			t.Logf("the operation made %d write transactions", n-1)
			return
		}
		if !errors.Is(err, store.ErrCrashedForTest) {
			t.Fatalf("crash at write %d: %v, want the simulated crash", n, err)
		}
		check(t, dir, n)
	}
}

// checkWholeOrNothing: after a crash, the data dir holds either no
// identity (and the operation can simply run again) or a whole one: its
// device among the account's devices, loadable, and a node may start.
func checkWholeOrNothing(redo func(dir string) error, whole func(t *testing.T, st *store.Store)) func(t *testing.T, dir string, crashAt int) {
	return func(t *testing.T, dir string, crashAt int) {
		t.Helper()
		st, err := account.OpenStore(dir, testOpts)
		if err != nil {
			t.Fatalf("crash at write %d: reopen: %v", crashAt, err)
		}
		has, err := st.HasIdentity()
		if err != nil {
			t.Fatal(err)
		}
		if !has {
			st.Close()
			if err := redo(dir); err != nil {
				t.Fatalf("crash at write %d left no identity, and running again fails: %v", crashAt, err)
			}
			return
		}
		defer st.Close()
		id, err := account.LoadIdentity(st, time.Now())
		if err != nil {
			t.Fatalf("crash at write %d: %v", crashAt, err)
		}
		certs, err := st.DeviceCerts()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := certs[id.DeviceCert.Device]; !ok {
			t.Fatalf("crash at write %d: the identity is stored but its device is not among the account's %d device(s): the account record would be published without it", crashAt, len(certs))
		}
		if whole != nil {
			whole(t, st)
		}
	}
}

// TestInitCrashSafe: parleyd init killed at any write leaves nothing or a
// whole device (finding 11 of issue 14: the identity was stored before
// the device's certificate, in two transactions).
func TestInitCrashSafe(t *testing.T) {
	init := func(dir string) error { _, err := account.InitAccount(dir, testOpts); return err }
	crashEverywhere(t, init, checkWholeOrNothing(init, nil))
}

// TestRestoreCrashSafe: the same for a restore from an archive with
// devices, a CRL, contacts and settings.
func TestRestoreCrashSafe(t *testing.T) {
	archive := testArchive(t)
	restore := func(dir string) error {
		_, err := account.RestoreAccount(dir, archive, []byte("archive pass"), testOpts)
		return err
	}
	restored := func(t *testing.T, st *store.Store) {
		t.Helper()
		cs, _ := st.Contacts()
		_, crl, _ := st.CRL()
		certs, _ := st.DeviceCerts()
		if len(cs) != 3 || crl != 2 || len(certs) != 3 {
			t.Fatalf("restored identity with %d contacts, CRL #%d, %d devices; want 3, #2, 3 (the archive's 2 unrevoked and this one)", len(cs), crl, len(certs))
		}
	}
	crashEverywhere(t, restore, checkWholeOrNothing(restore, restored))
	dir := filepath.Join(t.TempDir(), "data")
	if err := restore(dir); err != nil {
		t.Fatal(err)
	}
	st, err := account.OpenStore(dir, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	restored(t, st)
}

// testArchive exports an account with a revoked device, a CRL, contacts and
// a setting.
func testArchive(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	if _, err := account.InitAccount(dir, testOpts); err != nil {
		t.Fatal(err)
	}
	st, err := account.OpenStore(dir, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := account.LoadIdentity(st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		dk, err := pcrypto.NewDeviceKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := pcrypto.IssueDeviceCert(id.AccountKey(), id.AccountCert, dk.Public(), fmt.Sprintf("old-%d", i), pcrypto.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutDeviceCert(dc.Device, dc.Raw()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			crl, err := pcrypto.CreateCRL(id.AccountKey(), id.AccountCert, nil, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			crl, err = pcrypto.CreateCRL(id.AccountKey(), id.AccountCert, crl, []*big.Int{dc.Serial()}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.PutCRL(crl.Raw(), crl.Number.Uint64()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		ck, err := pcrypto.NewAccountKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := store.Contact{AccountID: ck.ID(), Name: fmt.Sprintf("c%d", i), State: store.Accepted}
		if err := st.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetSetting("calls.allow_non_contacts", "true"); err != nil {
		t.Fatal(err)
	}
	archive, err := account.ExportAccount(st, []byte("archive pass"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return archive
}

// TestRepairSplitDataDir: a data dir left by a crash of older versions
// (identity without its device's certificate, no certificate files) is
// completed when a node loads it.
func TestRepairSplitDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := account.InitAccount(dir, testOpts); err != nil {
		t.Fatal(err)
	}
	st, err := account.OpenStore(dir, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := account.LoadIdentity(st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteDeviceCert(id.DeviceCert.Device); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{account.AccountCertFile, account.DeviceCertFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := account.Repair(st, dir, id); err != nil {
		t.Fatal(err)
	}
	certs, _ := st.DeviceCerts()
	if _, ok := certs[id.DeviceCert.Device]; !ok {
		t.Error("Repair did not put the device's own certificate back")
	}
	for _, f := range []string{account.AccountCertFile, account.DeviceCertFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("Repair did not rewrite %s: %v", f, err)
		}
	}
}
