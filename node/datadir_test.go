package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/store"
)

// TestNewRefusesMissingDataDir: a data directory with no store is refused
// as holding no identity, with the init command, and is not created (the
// new user's review: a typo in --data left a new directory and database
// behind).
func TestNewRefusesMissingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := node.New(node.Options{DataDir: dir})
	if !errors.Is(err, store.ErrNoIdentity) || !strings.Contains(err.Error(), "parleyd init --data "+dir) {
		t.Fatalf("New on a missing data dir: %v, want ErrNoIdentity with the init command", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing data dir was created (%v)", err)
	}
}
