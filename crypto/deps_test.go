package crypto

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsStayLight keeps the package free of the network stack: the CLI
// imports it and must not pull in go-libp2p or pion. Only the standard
// library, golang.org/x/crypto, base58 and filippo.io/edwards25519 (the
// scalar and point arithmetic of key blinding) are allowed in non-test
// files.
func TestImportsStayLight(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			allowed := std || strings.HasPrefix(path, "golang.org/x/crypto/") || path == "github.com/mr-tron/base58" || path == "filippo.io/edwards25519"
			if !allowed {
				t.Errorf("%s imports %s; package crypto must stay light", name, path)
			}
		}
	}
}
