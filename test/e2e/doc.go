// Package e2e runs the real parleyd, parley and parley-bootstrap binaries in
// temporary directories and checks what a user would see.
package e2e
