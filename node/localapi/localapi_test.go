package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// fakeAPI serves a contacts list and an add operation, as a service's
// endpoints would.
type fakeAPI struct {
	events chan apitype.Event
	added  []apitype.ContactRequest
}

func (f *fakeAPI) Endpoints() (service.Endpoints, error) {
	return service.Endpoints{
		"contacts": service.Get(func(*http.Request) (any, error) {
			return []apitype.Contact{{AccountID: "parley1x", State: "accepted"}}, nil
		}),
		"contacts/add": service.Post(func(_ *http.Request, c apitype.ContactRequest) (any, error) {
			if err := service.Required("account_id", c.AccountID); err != nil {
				return nil, err
			}
			if c.AccountID == "conflict" {
				return nil, fmt.Errorf("%w: already a contact", service.ErrConflict)
			}
			f.added = append(f.added, c)
			return &apitype.Contact{AccountID: c.AccountID, State: "request-sent"}, nil
		}),
	}, nil
}

func (f *fakeAPI) Subscribe() (<-chan apitype.Event, func()) { return f.events, func() {} }

// serve runs the API on a unix socket in a temp dir and returns a client.
func serve(t *testing.T, api API) (*http.Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h, err := NewHandler(api, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- Serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	return hc, sock
}

func TestHandlers(t *testing.T) {
	fb := &fakeAPI{events: make(chan apitype.Event, 1)}
	hc, sock := serve(t, fb)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	do := func(method, path, body string) (int, apitype.Error, string) {
		req, _ := http.NewRequest(method, "http://parleyd"+path, strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		var e apitype.Error
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, e, string(raw)
	}
	tests := []struct {
		name, method, path, body string
		want                     int
		wantErr                  string
	}{
		{"contacts", "GET", apitype.Prefix + "contacts", "", 200, ""},
		{"outside prefix", "GET", "/other", "", 404, "no such path"},
		{"unknown endpoint", "GET", apitype.Prefix + "nope", "", 404, "no such endpoint"},
		{"wrong method", "POST", apitype.Prefix + "contacts", "", 405, "needs GET"},
		{"bad json", "POST", apitype.Prefix + "contacts/add", "{", 400, "request body"},
		{"unknown field", "POST", apitype.Prefix + "contacts/add", `{"account_id":"a","x":1}`, 400, "unknown field"},
		{"missing account", "POST", apitype.Prefix + "contacts/add", `{}`, 400, "account_id is required"},
		{"huge body", "POST", apitype.Prefix + "contacts/add", `{"account_id":"a","message":"` + strings.Repeat("x", 100000) + `"}`, 400, "request body larger than 64 KiB"},
		{"conflict", "POST", apitype.Prefix + "contacts/add", `{"account_id":"conflict"}`, 409, "already a contact"},
		{"add", "POST", apitype.Prefix + "contacts/add", `{"account_id":"parley1y","message":"hi"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, e, raw := do(tt.method, tt.path, tt.body)
			if code != tt.want || !strings.Contains(e.Error, tt.wantErr) {
				t.Fatalf("%s %s = %d %s; want %d and an error mentioning %q", tt.method, tt.path, code, raw, tt.want, tt.wantErr)
			}
		})
	}
	if len(fb.added) != 1 || fb.added[0].Message != "hi" {
		t.Fatalf("backend saw %+v", fb.added)
	}

	// The event stream delivers events as NDJSON lines as they happen.
	resp, err := hc.Get("http://parleyd" + apitype.Prefix + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fb.events <- apitype.Event{Type: apitype.EventContactRequest, Account: "parley1z", Time: time.Now()}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ev apitype.Event
	if err := json.Unmarshal(line, &ev); err != nil || ev.Type != apitype.EventContactRequest || ev.Account != "parley1z" {
		t.Fatalf("event line %q: %v", line, err)
	}
}

// TestListen replaces a stale socket file but refuses a live one.
func TestListen(t *testing.T) {
	_, sock := serve(t, &fakeAPI{})
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("Listen on a live socket: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale file: %v", err)
	}
	ln.Close()
}
