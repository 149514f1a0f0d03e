package service

import (
	"fmt"
	"os"
)

// WritableDir makes sure dir exists (creating it and its parents, mode
// 0700, as a recording would) and that the daemon can create files in it,
// by creating and removing one. Permission bits alone do not tell: root
// passes them everywhere, and a directory on a read-only or virtual file
// system (/proc) refuses new files all the same.
func WritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create directory %s: %w", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".parley-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, unwrapPath(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// unwrapPath drops the *os.PathError around an errno: the message names
// the directory already.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
