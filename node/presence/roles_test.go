package presence

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/service/servicetest"
)

// TestAccountRecordRoles: an admin keeps publishing the record it signed
// until its content changes or a third of its 30 days is left, and lists
// itself as an admin; a member publishes the admin-signed bytes it holds
// and signs nothing.
func TestAccountRecordRoles(t *testing.T) {
	env := servicetest.NewEnv(t, "alice")
	t0 := time.Now()
	svc := restart(t, env)
	first, err := svc.AccountRecord(t0)
	if err != nil {
		t.Fatal(err)
	}
	key := records.AccountKey(env.ID.AccountCert.ID)
	rec, err := records.ParseAccount(key, first, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.IsAdmin(env.ID.DeviceCert.Device) || rec.Expires.Sub(t0) < records.MaxAccountTTL-time.Second {
		t.Fatalf("record: admins %v, expires in %v", rec.Admins, rec.Expires.Sub(t0))
	}
	later := t0.Add(19 * 24 * time.Hour)
	again, err := svc.AccountRecord(later)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("19 days on, the admin re-signed an unchanged record (err %v)", err)
	}
	resigned, err := svc.AccountRecord(t0.Add(21 * 24 * time.Hour))
	if err != nil || bytes.Equal(resigned, first) {
		t.Fatalf("21 days on (less than a third left) the admin did not re-sign (err %v)", err)
	}

	// The same device as a member: no account key.
	member := &account.Identity{AccountCert: env.ID.AccountCert, DeviceKey: env.ID.DeviceKey, DeviceCert: env.ID.DeviceCert}
	menv := env
	menv.ID = member
	msvc := restart(t, menv)
	got, err := msvc.AccountRecord(t0.Add(22 * 24 * time.Hour))
	if err != nil || !bytes.Equal(got, resigned) {
		t.Fatalf("the member did not republish the stored admin-signed record (err %v)", err)
	}
	if _, err := msvc.AccountRecord(t0.Add(60 * 24 * time.Hour)); !errors.Is(err, ErrNoAccountRecord) {
		t.Fatalf("the member with only an expired record: err = %v, want %v", err, ErrNoAccountRecord)
	}
}
