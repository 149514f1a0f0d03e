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

// TestEndpointsRefuseMalformedIDs: every endpoint that names an account
// parses the ID where it enters and refuses a malformed one with 400 and
// one message that quotes it and says what is wrong; the service behind it
// is never reached.
func TestEndpointsRefuseMalformedIDs(t *testing.T) {
	n, err := node.New(node.Options{DataDir: initAccount(t, "alice"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, err := localapi.NewHandler(n, quiet(t))
	if err != nil {
		t.Fatal(err)
	}
	const bad = "parley1notanid"
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "contacts/add", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "contacts/accept", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "contacts/decline", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "contacts/block", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "contacts/remove", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "contacts/rename", `{"account_id":"` + bad + `","name":"x"}`},
		{http.MethodPost, "calls/start", `{"account_id":"` + bad + `"}`},
		{http.MethodPost, "conferences/invite", `{"conference_id":"00","account_id":"` + bad + `"}`},
		{http.MethodGet, "lookup?account=" + bad, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, apitype.Prefix+tc.path, strings.NewReader(tc.body)))
		// One message for a person: what is wrong with the text given,
		// without the field's name or the error categories around it.
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest || !strings.Contains(body, `\"`+bad+`\" is not an account ID: 7 characters after parley1`) ||
			strings.Contains(body, "invalid input") || strings.Contains(body, "invalid ID") {
			t.Errorf("%s %s = %d %s; want 400 saying what is wrong, once", tc.method, tc.path, rec.Code, body)
		}
	}
	// A well-formed ID of this node's own account is refused too.
	own := n.Keys().AccountCert.ID.String()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, apitype.Prefix+"contacts/add", strings.NewReader(`{"account_id":"`+own+`"}`)))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "own account") {
		t.Errorf("adding the own account = %d %s", rec.Code, rec.Body)
	}
}
