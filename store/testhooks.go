// Test hooks. They are in the package (not an _test file) because other
// packages' tests (account, link, node) crash their multi-step operations
// with them; only tests call them.

package store

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// ErrCrashedForTest is the error of a write transaction that
// CrashAtWriteForTest made fail.
var ErrCrashedForTest = errors.New("store: simulated crash (test)")

// crashPoints maps a database file to the number of write transactions
// still allowed before its simulated crash.
var crashPoints struct {
	sync.Mutex
	left  map[string]int
	armed atomic.Int32 // len(left): writes skip the lock when zero
}

// CrashAtWriteForTest makes the stores of data dir dir behave as if the
// process died just before their n-th write transaction from now
// (1-based): that one and all later ones fail with ErrCrashedForTest and
// write nothing, so what is on disk is exactly what a kill at that point
// leaves. The returned function disarms it.
func CrashAtWriteForTest(dir string, n int) (disarm func()) {
	path := dbPathForTest(dir)
	crashPoints.Lock()
	defer crashPoints.Unlock()
	if crashPoints.left == nil {
		crashPoints.left = map[string]int{}
	}
	crashPoints.left[path] = n - 1
	crashPoints.armed.Store(int32(len(crashPoints.left)))
	return func() {
		crashPoints.Lock()
		defer crashPoints.Unlock()
		delete(crashPoints.left, path)
		crashPoints.armed.Store(int32(len(crashPoints.left)))
	}
}

func dbPathForTest(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Join(dir, FileName)
}

// crashedForTest reports whether a write to the file at path is past its
// simulated crash, counting it.
func crashedForTest(path string) bool {
	if crashPoints.armed.Load() == 0 {
		return false
	}
	crashPoints.Lock()
	defer crashPoints.Unlock()
	left, ok := crashPoints.left[path]
	if !ok {
		return false
	}
	if left == 0 {
		return true
	}
	crashPoints.left[path] = left - 1
	return false
}

// boltDB is the bbolt handle with the simulated crash point in Update.
type boltDB struct {
	*bolt.DB
	path string
}

func (d boltDB) Update(fn func(*bolt.Tx) error) error {
	if crashedForTest(d.path) {
		return ErrCrashedForTest
	}
	return d.DB.Update(fn)
}
