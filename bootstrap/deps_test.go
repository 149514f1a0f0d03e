package bootstrap_test

import (
	"testing"

	"github.com/parleyhq/parley/internal/deptest"
)

// TestDeps keeps the bootstrap server independent of the node: what both
// need lives under internal/, so no bootstrap package links node/ (or a
// binary under cmd/).
func TestDeps(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			g := deptest.Load(t, goos, "./...")
			if !g.Has(deptest.Module+"/bootstrap/turnsrv") || !g.Has(deptest.Module+"/internal/records") {
				t.Fatalf("bootstrap/turnsrv or internal/records not listed; go list printed %d packages", len(g.Packages()))
			}
			g.Forbid(t, func(p string) string {
				switch {
				case deptest.Under(p, deptest.Module+"/node"):
					return "the bootstrap server must not depend on the node"
				case deptest.Under(p, deptest.Module+"/cmd"):
					return "a library must not depend on a binary"
				}
				return ""
			})
		})
	}
}
