// Package deptest fences what packages may link. Load runs go list -deps
// (non-test imports, as the linker sees them) and Forbid reports each
// forbidden package with the import chain that brings it in, such as
//
//	cmd/parleyd → node → bootstrap/turncred → bootstrap/turnsrv
//
// so that a failing fence says which import to cut. It is for tests only:
// it needs the go command.
package deptest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Module is this repository's module path.
const Module = "github.com/parleyhq/parley"

// A Graph is the import graph of the packages some patterns match (the
// roots) and of everything they link.
type Graph struct {
	// Roots are the packages the patterns matched, in go list's order.
	Roots []string
	// imports maps each package to its direct non-test imports.
	imports map[string][]string
}

// Load lists patterns and their dependencies for the operating system goos
// ("" for the host's), from the test's working directory. It fails t if the
// go command fails or matches nothing.
func Load(t testing.TB, goos string, patterns ...string) *Graph {
	t.Helper()
	args := append([]string{"list", "-e", "-deps", "-f",
		`{{if .DepOnly}}-{{else}}+{{end}} {{.ImportPath}}{{range .Imports}} {{.}}{{end}}`}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Env = os.Environ()
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos, "CGO_ENABLED=0")
	}
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	g := &Graph{imports: map[string][]string{}}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		g.imports[f[1]] = f[2:]
		if f[0] == "+" {
			g.Roots = append(g.Roots, f[1])
		}
	}
	if len(g.Roots) == 0 {
		t.Fatalf("go list %s (GOOS=%q) matched no package", strings.Join(patterns, " "), goos)
	}
	return g
}

// Has reports whether pkg is in the graph.
func (g *Graph) Has(pkg string) bool {
	_, ok := g.imports[pkg]
	return ok
}

// Packages returns every package in the graph, sorted.
func (g *Graph) Packages() []string {
	var all []string
	for p := range g.imports {
		all = append(all, p)
	}
	slices.Sort(all)
	return all
}

// Chain returns the shortest import chain from a root to pkg, both
// included, or nil if no root links pkg.
func (g *Graph) Chain(pkg string) []string {
	from := map[string]string{}
	queue := []string{}
	for _, r := range g.Roots {
		if _, seen := from[r]; !seen {
			from[r] = ""
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == pkg {
			var chain []string
			for ; p != ""; p = from[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range g.imports[p] {
			if _, seen := from[q]; !seen {
				from[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// Forbid fails t once for each package of the graph for which why returns
// a reason, naming the reason and the chain that links the package.
func (g *Graph) Forbid(t testing.TB, why func(pkg string) string) {
	t.Helper()
	for _, p := range g.Packages() {
		if reason := why(p); reason != "" {
			t.Errorf("%s is linked (%s): %s", Short(p), reason, strings.Join(shortAll(g.Chain(p)), " → "))
		}
	}
}

// Under reports whether pkg is the package at path or below it, whole path
// elements only: Under("a/bc", "a/b") is false.
func Under(pkg, path string) bool {
	return pkg == path || strings.HasPrefix(pkg, path+"/")
}

// Short returns pkg without the module path, for messages.
func Short(pkg string) string {
	if s, ok := strings.CutPrefix(pkg, Module+"/"); ok {
		return s
	}
	return pkg
}

func shortAll(pkgs []string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = Short(p)
	}
	return out
}
