package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"

	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/conference"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/devices"
	"github.com/parleyhq/parley/node/link"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// TestClassify checks the status every service's refusals get, wrapped as
// the services wrap them.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: account_id is required", service.ErrInvalidInput), http.StatusBadRequest},
		{fmt.Errorf("%w at 12:00:00", link.ErrLinkExpired), http.StatusConflict},
		{fmt.Errorf("%w: ask for a new one", link.ErrLinkUsed), http.StatusConflict},
		{fmt.Errorf("the new device refused: %w", link.ErrLinkInUse), http.StatusConflict},
		{fmt.Errorf("%w (3)", link.ErrLinkAttempts), http.StatusConflict},
		{fmt.Errorf("%w: wrong digits", link.ErrLinkSAS), http.StatusBadRequest},
		{fmt.Errorf("%w", link.ErrLinkProof), http.StatusBadRequest},
		{fmt.Errorf("%w 12D3…: dial backoff", link.ErrLinkUnreachable), http.StatusServiceUnavailable},
		{fmt.Errorf("%w: %q", link.ErrNoLinkSession, "s9"), http.StatusBadRequest},
		{fmt.Errorf("%w (CRL #1)", devices.ErrDeviceRevoked), http.StatusConflict},
		{fmt.Errorf("%w: %q", devices.ErrUnknownDevice, "d7"), http.StatusBadRequest},
		{fmt.Errorf("%w: parley1x", contacts.ErrNoContact), http.StatusNotFound},
		{fmt.Errorf("%w: parley1x is accepted", service.ErrConflict), http.StatusConflict},
		{fmt.Errorf("account: %w", presence.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: 1a2b", calls.ErrNoSuchCall), http.StatusNotFound},
		{fmt.Errorf("%w: parley1x", calls.ErrUnreachable), http.StatusServiceUnavailable},
		{fmt.Errorf("%w: 1a2b", conference.ErrNoSuchConference), http.StatusNotFound},
		{fmt.Errorf("%w: 8 of 8", conference.ErrConferenceFull), http.StatusConflict},
		{context.DeadlineExceeded, http.StatusGatewayTimeout},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got, _ := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// dupAPI serves one path twice.
type dupAPI struct{ fakeAPI }

func (dupAPI) Endpoints() (service.Endpoints, error) {
	eps := service.Endpoints{"status": service.Get(nil)}
	return eps, eps.Merge(service.Endpoints{"status": service.Get(nil)})
}

// TestDuplicateEndpoint: two services claiming one path stop the daemon at
// start, not at the first request.
func TestDuplicateEndpoint(t *testing.T) {
	if _, err := NewHandler(&dupAPI{}, nil); err == nil {
		t.Fatal("a path served twice was accepted")
	}
}

// chainAPI refuses with a wrapped chain as the services build them.
type chainAPI struct{ fakeAPI }

func (chainAPI) Endpoints() (service.Endpoints, error) {
	return service.Endpoints{
		"calls/hangup": service.Get(func(*http.Request) (any, error) {
			return nil, fmt.Errorf("%w: %w: %w: no call to act on", calls.ErrNoSuchCall, calls.ErrNoSuchCall, errors.New("calls.FindCall"))
		}),
		"conferences/join": service.Get(func(*http.Request) (any, error) {
			return nil, fmt.Errorf("%w: 1a2b (see parley conference list)", conference.ErrNoSuchConference)
		}),
		"contacts/add": service.Get(func(*http.Request) (any, error) {
			return nil, fmt.Errorf("%w: %w", service.ErrInvalidInput, fmt.Errorf("crypto.ParseAccountID: %w: \"x\" is not an account ID", pcrypto.ErrInvalidID))
		}),
	}, nil
}

// TestErrorsForPeople: a refusal's answer is one message (no Go names,
// no category words a later clause explains, no repeats, the hint not
// said twice); the whole chain is in the log at debug (issue 16 item 5).
func TestErrorsForPeople(t *testing.T) {
	log, lb := test.Logger(t, slog.LevelDebug)
	h, err := NewHandler(&chainAPI{}, log)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]apitype.Error{
		"calls/hangup":     {Error: "no such call: no call to act on", Hint: "see: parley calls"},
		"conferences/join": {Error: "no such conference: 1a2b (see parley conference list)"},
		"contacts/add":     {Error: `"x" is not an account ID`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, apitype.Prefix+path, nil))
		var got apitype.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != want {
			t.Errorf("%s: %s; want %+v", path, rec.Body, want)
		}
	}
	if !strings.Contains(lb.String(), "crypto.ParseAccountID: invalid ID") || !strings.Contains(lb.String(), "local API refused") {
		t.Errorf("the chain is not in the debug log:\n%s", lb.String())
	}
}
