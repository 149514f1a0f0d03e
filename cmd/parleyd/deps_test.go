package main

import (
	"testing"

	"github.com/parleyhq/parley/internal/deptest"
)

// TestDeps keeps the daemon a client of the bootstrap servers: it speaks
// their protocols through the shared definitions under internal/ and links
// none of the server's packages (the TURN server above all).
func TestDeps(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			g := deptest.Load(t, goos, ".")
			if !g.Has(deptest.Module+"/node") || !g.Has(deptest.Module+"/internal/turncred") {
				t.Fatalf("node or internal/turncred not listed; go list printed %d packages", len(g.Packages()))
			}
			g.Forbid(t, func(p string) string {
				if deptest.Under(p, deptest.Module+"/bootstrap") {
					return "parleyd must not link the bootstrap server"
				}
				return ""
			})
		})
	}
}
