package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the name of the file whose lock marks a data directory as in
// use by a running server.
const LockFile = "bootstrap.lock"

// ErrDataDirInUse is returned when another server runs on the data
// directory: two servers would share one peer ID and overwrite each
// other's addrs.txt.
var ErrDataDirInUse = errors.New("data dir in use")

// lockDataDir takes an exclusive, non-blocking lock on dir/bootstrap.lock.
// The kernel releases it when the process exits, however it exits.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another parley-bootstrap holds the lock on %s; stop it or use a different --data-dir", ErrDataDirInUse, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
