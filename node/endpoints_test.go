package node_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// TestEndpointsDocumentedAndBounded builds a real node and checks its local
// API: every endpoint a service registers is in docs/localapi.md with its
// method, and every POST endpoint answers an empty body with a client
// error that names the problem, never a 500.
func TestEndpointsDocumentedAndBounded(t *testing.T) {
	n, err := node.New(node.Options{DataDir: initAccount(t, "alice"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	eps, err := n.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/localapi.md")
	if err != nil {
		t.Fatal(err)
	}
	h, err := localapi.NewHandler(n, quiet(t))
	if err != nil {
		t.Fatal(err)
	}
	for path, ep := range eps {
		if !strings.Contains(string(doc), "| "+ep.Method+" | `"+path) {
			t.Errorf("%s %s is not in docs/localapi.md", ep.Method, path)
		}
		if ep.Method != http.MethodPost {
			continue
		}
		for _, body := range []string{"{}", "", "{\"x\":1}"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, apitype.Prefix+path, strings.NewReader(body)))
			if rec.Code >= 500 || rec.Code < 400 && body != "{}" {
				t.Errorf("POST %s %q = %d %s", path, body, rec.Code, rec.Body)
			}
		}
	}
}
