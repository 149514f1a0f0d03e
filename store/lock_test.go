package store_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// lockTimeout is the short lock wait used by the lock tests.
const lockTimeout = 100 * time.Millisecond

// assertLocked checks that opening dir fails fast with a helpful ErrLocked.
func assertLocked(t *testing.T, dir, path string) {
	t.Helper()
	start := time.Now()
	s, err := store.Open(dir, &store.Options{Timeout: lockTimeout})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Open error = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "another process", "--data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if elapsed > 5*time.Second {
		t.Errorf("Open took %v with a %v timeout; want it to fail fast", elapsed, lockTimeout)
	}
}

func TestOpenTwiceInProcess(t *testing.T) {
	dir := t.TempDir()
	s1 := mustOpen(t, dir, nil)
	assertLocked(t, dir, s1.Path())
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(dir, &store.Options{Timeout: lockTimeout})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	s2.Close()
}

// TestLockHelper is not a test: TestOpenWhileOtherProcessHoldsLock runs it
// in a child process, where it opens the store, reports "ready", and holds
// the lock until its stdin is closed.
func TestLockHelper(t *testing.T) {
	dir := os.Getenv(envHelperDir)
	if dir == "" || os.Getenv(envHelperRound) != "lock" {
		t.Skip("helper process only")
	}
	s, err := store.Open(dir, nil)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

func TestOpenWhileOtherProcessHoldsLock(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, "TestLockHelper", envHelperDir+"="+dir, envHelperRound+"=lock")
	if _, ok := c.waitLine("ready", time.Now().Add(30*time.Second)); !ok {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		t.Fatalf("child never reported ready; stderr:\n%s", c.stderr)
	}
	assertLocked(t, dir, dir+string(os.PathSeparator)+store.FileName)

	// Let the child close the store and exit; then the lock is free.
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, c.stderr)
	}
	s, err := store.Open(dir, &store.Options{Timeout: lockTimeout})
	if err != nil {
		t.Fatalf("Open after the child exited: %v", err)
	}
	s.Close()
}
