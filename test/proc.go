package test

import (
	"testing"

	"github.com/parleyhq/parley/test/proc"
)

// Procs returns a process group for a test: what it starts is stopped
// (SIGTERM, then SIGKILL) when the test ends, and each process's output
// is logged only if the test failed.
func Procs(t testing.TB) *proc.Group {
	t.Helper()
	g := new(proc.Group)
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("stopping the test's processes: %v", err)
		}
		if t.Failed() {
			for _, p := range g.Procs() {
				t.Logf("--- output of %v:\n%s", p, p.Output())
			}
		}
	})
	return g
}
