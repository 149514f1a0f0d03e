//go:build unix

package localapi

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSocketPrivateFromCreation: the API socket is owner-only the moment it
// exists, not only after a chmod: under the usual umask 022, a socket made
// by a plain listen is 0755 (connectable by every local user) until then.
func TestSocketPrivateFromCreation(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	var first fs.FileMode
	testHookListened = func(path string) {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Errorf("socket not there after listen: %v", err)
			return
		}
		first = fi.Mode().Perm()
	}
	defer func() { testHookListened = nil }()

	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if first&0o077 != 0 {
		t.Errorf("the socket was created with mode %#o; want no group or other permission from the start", first)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("socket mode %#o, want 0600", m)
	}
	if u := syscall.Umask(0o022); u != 0o022 {
		t.Errorf("Listen left the umask at %#o", u)
	}
}
