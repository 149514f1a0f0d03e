package calls

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/media"
	"github.com/parleyhq/parley/node/service"
)

// TestRecordTargetChecked: a call whose recording would replace an existing
// file is refused up front, with the reason, before anyone is rung; the
// file is left alone.
func TestRecordTargetChecked(t *testing.T) {
	alice := newTestNode(t, "alice")
	bob := newTestNode(t, "bob")
	existing := filepath.Join(t.TempDir(), "call.ogg")
	if err := os.WriteFile(existing, []byte("last week's call"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := alice.StartCall(t.Context(), apitype.CallRequest{AccountID: bob.ID.AccountCert.ID.String(), Record: existing})
	if !errors.Is(err, service.ErrInvalidInput) || !errors.Is(err, media.ErrExists) {
		t.Fatalf("StartCall recording over an existing file = %v, want ErrInvalidInput and media.ErrExists", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "last week's call" {
		t.Fatalf("the existing file now holds %q", b)
	}
}
