package deptest

import (
	"slices"
	"strings"
	"testing"
)

// TestInternalIsNeutral fences the shared packages: what node and bootstrap
// both use must not depend on either, nor on a binary.
func TestInternalIsNeutral(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			g := Load(t, goos, Module+"/internal/...")
			if !g.Has(Module + "/internal/wire") {
				t.Fatalf("internal/wire not listed; go list printed %d packages", len(g.Packages()))
			}
			g.Forbid(t, func(p string) string {
				for _, side := range []string{"node", "bootstrap", "cmd"} {
					if Under(p, Module+"/"+side) {
						return "internal/ is shared by node and bootstrap and depends on neither"
					}
				}
				return ""
			})
		})
	}
}

// TestChain checks the chain Forbid reports on a small graph.
func TestChain(t *testing.T) {
	g := &Graph{
		Roots: []string{"cmd/a"},
		imports: map[string][]string{
			"cmd/a": {"x", "y"},
			"x":     {"z"},
			"y":     {"x", "w"},
			"z":     nil,
			"w":     {"z"},
			"lone":  nil,
		},
	}
	for pkg, want := range map[string]string{
		"cmd/a": "cmd/a",
		"z":     "cmd/a x z",
		"w":     "cmd/a y w",
		"lone":  "",
	} {
		if got := strings.Join(g.Chain(pkg), " "); got != want {
			t.Errorf("Chain(%s) = %q, want %q", pkg, got, want)
		}
	}
	if !slices.Equal(g.Packages(), []string{"cmd/a", "lone", "w", "x", "y", "z"}) {
		t.Errorf("Packages() = %v", g.Packages())
	}
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		pkg, path string
		want      bool
	}{
		{Module + "/bootstrap", Module + "/bootstrap", true},
		{Module + "/bootstrap/turnsrv", Module + "/bootstrap", true},
		{Module + "/bootstrapx", Module + "/bootstrap", false},
		{Module + "/node", Module + "/bootstrap", false},
	} {
		if got := Under(tc.pkg, tc.path); got != tc.want {
			t.Errorf("Under(%s, %s) = %v", tc.pkg, tc.path, got)
		}
	}
}
