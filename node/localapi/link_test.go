package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// fakeDevices is a backend with the device endpoints; each code in a link
// request selects an error.
type fakeDevices struct {
	fakeBackend
	revoked []string
}

var fakeLinkErrors = map[string]error{
	"expired": fmt.Errorf("%w at 12:00:00", node.ErrLinkExpired),
	"used":    fmt.Errorf("%w: ask for a new one", node.ErrLinkUsed),
	"busy":    fmt.Errorf("the new device refused: %w", node.ErrLinkInUse),
	"sas":     fmt.Errorf("%w: wrong digits", node.ErrLinkSAS),
	"gone":    fmt.Errorf("%w 12D3…: dial backoff", node.ErrLinkUnreachable),
	"revoked": fmt.Errorf("%w (CRL #1)", node.ErrDeviceRevoked),
	"typo":    fmt.Errorf("%w: link code check failed", node.ErrInvalidInput),
}

func (f *fakeDevices) ApproveLink(_ context.Context, req apitype.LinkApprove) (*apitype.LinkSession, error) {
	if err, ok := fakeLinkErrors[req.Code]; ok {
		return nil, err
	}
	return &apitype.LinkSession{Session: "s1", State: apitype.LinkStateConfirm, SAS: "123 456"}, nil
}

func (f *fakeDevices) ConfirmLink(_ context.Context, req apitype.LinkConfirm) (*apitype.LinkSession, error) {
	if req.Session != "s1" {
		return nil, fmt.Errorf("%w: %q", node.ErrNoLinkSession, req.Session)
	}
	return &apitype.LinkSession{Session: "s1", State: apitype.LinkStateLinked}, nil
}

func (f *fakeDevices) Devices() ([]apitype.Device, error) {
	return []apitype.Device{{DeviceID: "d1", Self: true}, {DeviceID: "d2"}}, nil
}

func (f *fakeDevices) RevokeDevice(_ context.Context, d string) (*apitype.Revocation, error) {
	if d != "d2" {
		return nil, fmt.Errorf("%w: %q", node.ErrUnknownDevice, d)
	}
	f.revoked = append(f.revoked, d)
	return &apitype.Revocation{Device: apitype.Device{DeviceID: d, Revoked: true}, CRLNumber: 1}, nil
}

func (f *fakeDevices) RenameContact(account, name string) (*apitype.Contact, error) {
	return &apitype.Contact{AccountID: account, Name: name, State: "accepted"}, nil
}

// TestDeviceEndpoints checks the link and device endpoints: bodies, and the
// status each kind of refusal gets.
func TestDeviceEndpoints(t *testing.T) {
	fd := &fakeDevices{}
	hc, _ := serve(t, fd)
	post := func(path, body string) (int, string) {
		resp, err := hc.Post("http://parleyd"+apitype.Prefix+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		return resp.StatusCode, string(raw)
	}
	tests := []struct {
		name, path, body string
		want             int
		wantBody         string
	}{
		{"approve", "link/approve", `{"code":"ok"}`, 200, `"sas":"123 456"`},
		{"approve without code", "link/approve", `{}`, 400, "code is required"},
		{"expired", "link/approve", `{"code":"expired"}`, 409, "link code expired at 12:00:00"},
		{"used", "link/approve", `{"code":"used"}`, 409, "already used"},
		{"in use", "link/approve", `{"code":"busy"}`, 409, "in use by another approving device"},
		{"wrong SAS", "link/approve", `{"code":"sas","sas":"000000"}`, 400, "SAS not confirmed: wrong digits"},
		{"unreachable", "link/approve", `{"code":"gone"}`, 503, "cannot reach the new device"},
		{"revoked approver", "link/approve", `{"code":"revoked"}`, 409, "this device has been revoked"},
		{"typo", "link/approve", `{"code":"typo"}`, 400, "check failed"},
		{"confirm", "link/confirm", `{"session":"s1","sas":"123456"}`, 200, `"state":"linked"`},
		{"confirm unknown session", "link/confirm", `{"session":"s9"}`, 400, "no such link session"},
		{"revoke", "devices/revoke", `{"device_id":"d2"}`, 200, `"crl_number":1`},
		{"revoke unknown", "devices/revoke", `{"device_id":"d7"}`, 400, "not a device of this account"},
		{"revoke without ID", "devices/revoke", `{}`, 400, "device_id is required"},
		{"rename", "contacts/rename", `{"account_id":"parley1x","name":"Bob"}`, 200, `"name":"Bob"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.path, tt.body)
			if code != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("POST %s %s = %d %s; want %d with %q", tt.path, tt.body, code, body, tt.want, tt.wantBody)
			}
		})
	}
	resp, err := hc.Get("http://parleyd" + apitype.Prefix + "devices")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds []apitype.Device
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil || resp.StatusCode != http.StatusOK || len(ds) != 2 {
		t.Fatalf("GET devices: %d %+v %v", resp.StatusCode, ds, err)
	}
	if len(fd.revoked) != 1 {
		t.Fatalf("revoked %v", fd.revoked)
	}

	// A backend without the device endpoints says so.
	hc2, _ := serve(t, &fakeBackend{})
	r2, err := hc2.Get("http://parleyd" + apitype.Prefix + "devices")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusInternalServerError {
		t.Fatalf("devices on a backend without them: %d", r2.StatusCode)
	}
}
