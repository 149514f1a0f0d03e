// Package localclient is the Go client of parleyd's local control API. The
// parley CLI uses it for everything it does; it imports only the standard
// library and package apitype.
package localclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ErrDaemonNotRunning means nothing answers on the API socket.
var ErrDaemonNotRunning = errors.New("parleyd is not running")

// maxResponse bounds a response body the client reads into memory.
const maxResponse = 16 << 20

// Client talks to one parleyd over its unix socket.
type Client struct {
	// Socket is the path of the daemon's unix socket.
	Socket string
	// DataDir, when set, is named in error hints.
	DataDir string

	hc *http.Client
}

// New returns a client for the daemon listening on socket.
func New(socket, dataDir string) *Client {
	c := &Client{Socket: socket, DataDir: dataDir}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		},
		DisableCompression: true,
	}}
	return c
}

// APIError is a non-2xx answer from the daemon.
type APIError struct {
	Status int
	Body   apitype.Error
}

func (e *APIError) Error() string {
	if e.Body.Hint != "" {
		return fmt.Sprintf("%s (%s)", e.Body.Error, e.Body.Hint)
	}
	return e.Body.Error
}

// send is the one funnel for every API call: it encodes body as JSON (if not
// nil), checks the status is wantStatus and returns the response body.
func (c *Client) send(ctx context.Context, method, path string, wantStatus int, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://parleyd"+apitype.Prefix+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.dialError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != wantStatus {
		ae := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, &ae.Body) != nil || ae.Body.Error == "" {
			ae.Body.Error = fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
		}
		return nil, ae
	}
	return b, nil
}

// get calls path and decodes the JSON answer into out.
func (c *Client) get(ctx context.Context, path string, out any) error {
	b, err := c.send(ctx, http.MethodGet, path, http.StatusOK, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func (c *Client) dialError(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
		dir := c.DataDir
		if dir == "" {
			dir = "DIR"
		}
		return fmt.Errorf("%w: no daemon answers on %s; start it with: parleyd run --data %s", ErrDaemonNotRunning, c.Socket, dir)
	}
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("cannot open %s: permission denied (the socket is mode 0600: run parley as the user that runs parleyd)", c.Socket)
	}
	return err
}

// Identity returns the identity the daemon runs as.
func (c *Client) Identity(ctx context.Context) (*apitype.Identity, error) {
	var id apitype.Identity
	if err := c.get(ctx, "identity", &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// Status returns the daemon's state.
func (c *Client) Status(ctx context.Context) (*apitype.Status, error) {
	var s apitype.Status
	if err := c.get(ctx, "status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Lookup resolves an account to its devices through the DHT.
func (c *Client) Lookup(ctx context.Context, account string) (*apitype.Lookup, error) {
	var l apitype.Lookup
	if err := c.get(ctx, "lookup?account="+url.QueryEscape(account), &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Contacts lists the contacts.
func (c *Client) Contacts(ctx context.Context) ([]apitype.Contact, error) {
	var cs []apitype.Contact
	if err := c.get(ctx, "contacts", &cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// ContactOp performs a contact operation: "add", "accept", "decline",
// "block" or "remove". For operations that return the contact, it is
// returned; otherwise the result is nil.
func (c *Client) ContactOp(ctx context.Context, op string, req apitype.ContactRequest) (*apitype.Contact, error) {
	b, err := c.send(ctx, http.MethodPost, "contacts/"+op, http.StatusOK, req)
	if err != nil {
		return nil, err
	}
	var ct apitype.Contact
	if json.Unmarshal(b, &ct) != nil || ct.AccountID == "" {
		return nil, nil
	}
	return &ct, nil
}

// Events streams the daemon's events to fn until ctx is done, the daemon
// stops, or fn returns an error.
func (c *Client) Events(ctx context.Context, fn func(apitype.Event) error) error {
	st, err := c.Subscribe(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			return nil // the daemon ended the stream
		}
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// EventStream is an open subscription to the daemon's events.
type EventStream struct {
	ctx  context.Context
	body io.Closer
	dec  *json.Decoder
}

// Subscribe opens the event stream and returns once the daemon has
// subscribed it: every event published after Subscribe returns is seen.
func (c *Client) Subscribe(ctx context.Context) (*EventStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://parleyd"+apitype.Prefix+"events", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.dialError(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("events: HTTP %d", resp.StatusCode)
	}
	return &EventStream{ctx: ctx, body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// Next returns the next event. At the end of the stream it returns the
// context's error (nil when the daemon closed it).
func (s *EventStream) Next() (apitype.Event, error) {
	var ev apitype.Event
	if err := s.dec.Decode(&ev); err != nil {
		if errors.Is(err, io.EOF) || s.ctx.Err() != nil {
			if s.ctx.Err() == nil {
				return ev, io.EOF
			}
			return ev, s.ctx.Err()
		}
		return ev, fmt.Errorf("events: %w", err)
	}
	return ev, nil
}

// Close ends the subscription.
func (s *EventStream) Close() error { return s.body.Close() }

// post sends body to path and decodes the JSON answer into out (if not nil).
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	b, err := c.send(ctx, http.MethodPost, path, http.StatusOK, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Calls lists active and recent calls with their statistics.
func (c *Client) Calls(ctx context.Context) ([]apitype.Call, error) {
	var cs []apitype.Call
	err := c.get(ctx, "calls", &cs)
	return cs, err
}

// StartCall calls a contact.
func (c *Client) StartCall(ctx context.Context, req apitype.CallRequest) (*apitype.Call, error) {
	var call apitype.Call
	if err := c.post(ctx, "calls/start", req, &call); err != nil {
		return nil, err
	}
	return &call, nil
}

// AnswerCall answers a ringing call.
func (c *Client) AnswerCall(ctx context.Context, a apitype.CallAction) (*apitype.Call, error) {
	var call apitype.Call
	if err := c.post(ctx, "calls/answer", a, &call); err != nil {
		return nil, err
	}
	return &call, nil
}

// CallAction runs "decline" or "hangup" on a call.
func (c *Client) CallAction(ctx context.Context, op string, a apitype.CallAction) error {
	return c.post(ctx, "calls/"+op, a, nil)
}

// Settings returns the node's settings.
func (c *Client) Settings(ctx context.Context) (map[string]string, error) {
	var m map[string]string
	err := c.get(ctx, "settings", &m)
	return m, err
}

// SetSetting changes a setting.
func (c *Client) SetSetting(ctx context.Context, key, value string) error {
	return c.post(ctx, "settings/set", apitype.Setting{Key: key, Value: value}, nil)
}

// Conferences lists the conferences the device is in or invited to.
func (c *Client) Conferences(ctx context.Context) ([]apitype.Conference, error) {
	var cs []apitype.Conference
	err := c.get(ctx, "conferences", &cs)
	return cs, err
}

// ConferenceOp runs "start", "invite", "join" or "leave"; start and join
// return the conference.
func (c *Client) ConferenceOp(ctx context.Context, op string, req apitype.ConferenceRequest) (*apitype.Conference, error) {
	var cf apitype.Conference
	if err := c.post(ctx, "conferences/"+op, req, &cf); err != nil {
		return nil, err
	}
	if cf.ID == "" {
		return nil, nil
	}
	return &cf, nil
}
