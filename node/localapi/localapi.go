// Package localapi serves parleyd's local control API: HTTP/JSON on a unix
// socket (mode 0600) under the versioned prefix /localapi/v0/, plus an
// NDJSON event stream. Every handler is one entry of the handlers map;
// package localclient is its Go client and docs/localapi.md lists the
// endpoints.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Backend is what the API drives; *node.Node implements it.
type Backend interface {
	Identity() (*apitype.Identity, error)
	Status() (*apitype.Status, error)
	Lookup(ctx context.Context, account string) (*apitype.Lookup, error)
	Contacts() ([]apitype.Contact, error)
	AddContact(account, name, message string) (*apitype.Contact, error)
	AcceptContact(account string) (*apitype.Contact, error)
	DeclineContact(account string) error
	BlockContact(account string) (*apitype.Contact, error)
	RemoveContact(account string) error
	Subscribe() (<-chan apitype.Event, func())
	Calls() []apitype.Call
	StartCall(ctx context.Context, req apitype.CallRequest) (*apitype.Call, error)
	AnswerCall(a apitype.CallAction) (*apitype.Call, error)
	DeclineCall(a apitype.CallAction) error
	HangUp(a apitype.CallAction) error
	Settings() (map[string]string, error)
	SetSetting(key, value string) error
	ConferenceBackend
}

// handler serves one endpoint; its result is encoded as JSON with status 200.
type handler func(b Backend, r *http.Request) (any, error)

// endpoint is a handler and the one method it accepts.
type endpoint struct {
	method string
	h      handler
}

// handlers maps a path below apitype.Prefix to its endpoint.
var handlers = map[string]endpoint{
	"identity": {http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Identity() }},
	"status":   {http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Status() }},
	"lookup":   {http.MethodGet, serveLookup},
	"contacts": {http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Contacts() }},
	"contacts/add": {http.MethodPost, contactOp(func(b Backend, c apitype.ContactRequest) (any, error) {
		return b.AddContact(c.AccountID, c.Name, c.Message)
	})},
	"contacts/accept": {http.MethodPost, contactOp(func(b Backend, c apitype.ContactRequest) (any, error) { return b.AcceptContact(c.AccountID) })},
	"contacts/decline": {http.MethodPost, contactOp(func(b Backend, c apitype.ContactRequest) (any, error) {
		return okResult(b.DeclineContact(c.AccountID))
	})},
	"contacts/block": {http.MethodPost, contactOp(func(b Backend, c apitype.ContactRequest) (any, error) { return b.BlockContact(c.AccountID) })},
	"contacts/remove": {http.MethodPost, contactOp(func(b Backend, c apitype.ContactRequest) (any, error) {
		return okResult(b.RemoveContact(c.AccountID))
	})},
	"calls": {http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Calls(), nil }},
	"calls/start": {http.MethodPost, func(b Backend, r *http.Request) (any, error) {
		var req apitype.CallRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return b.StartCall(r.Context(), req)
	}},
	"calls/answer": {http.MethodPost, callOp(func(b Backend, a apitype.CallAction) (any, error) { return b.AnswerCall(a) })},
	"calls/decline": {http.MethodPost, callOp(func(b Backend, a apitype.CallAction) (any, error) {
		return okResult(b.DeclineCall(a))
	})},
	"calls/hangup": {http.MethodPost, callOp(func(b Backend, a apitype.CallAction) (any, error) { return okResult(b.HangUp(a)) })},
	"settings":     {http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Settings() }},
	"settings/set": {http.MethodPost, func(b Backend, r *http.Request) (any, error) {
		var req apitype.Setting
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return okResult(b.SetSetting(req.Key, req.Value))
	}},
}

// decodeBody decodes a bounded JSON request body, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", node.ErrInvalidInput, err)
	}
	return nil
}

// callOp decodes a CallAction body and calls op.
func callOp(op func(Backend, apitype.CallAction) (any, error)) handler {
	return func(b Backend, r *http.Request) (any, error) {
		var a apitype.CallAction
		if err := decodeBody(r, &a); err != nil {
			return nil, err
		}
		return op(b, a)
	}
}

func okResult(err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]bool{"ok": true}, nil
}

func serveLookup(b Backend, r *http.Request) (any, error) {
	acct := r.URL.Query().Get("account")
	if acct == "" {
		return nil, fmt.Errorf("%w: the account query parameter is required", node.ErrInvalidInput)
	}
	return b.Lookup(r.Context(), acct)
}

// contactOp decodes a ContactRequest body and calls op.
func contactOp(op func(Backend, apitype.ContactRequest) (any, error)) handler {
	return func(b Backend, r *http.Request) (any, error) {
		var c apitype.ContactRequest
		if err := decodeBody(r, &c); err != nil {
			return nil, err
		}
		if c.AccountID == "" {
			return nil, fmt.Errorf("%w: account_id is required", node.ErrInvalidInput)
		}
		return op(b, c)
	}
}

// Handler serves the API for a backend.
type Handler struct {
	b   Backend
	log *slog.Logger
}

// NewHandler returns the API's HTTP handler.
func NewHandler(b Backend, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{b: b, log: log}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, apitype.Prefix)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such path %s", r.URL.Path), "the API lives under "+apitype.Prefix)
		return
	}
	if name == "events" {
		h.serveEvents(w, r)
		return
	}
	ep, ok := handlers[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %q", name), "")
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s needs %s", name, ep.method), "")
		return
	}
	v, err := ep.h(h.b, r)
	if err != nil {
		status, hint := classify(err)
		if status == http.StatusInternalServerError {
			h.log.Error("local API", "endpoint", name, "err", err)
		}
		writeError(w, status, err.Error(), hint)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// classify maps an error to an HTTP status and a hint for the user.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, node.ErrInvalidInput):
		return http.StatusBadRequest, ""
	case errors.Is(err, node.ErrNoSuchConference):
		return http.StatusNotFound, "see: parley conference list"
	case errors.Is(err, node.ErrConferenceFull):
		return http.StatusConflict, "the conference's --max is reached"
	case errors.Is(err, node.ErrNoSuchCall):
		return http.StatusNotFound, "see: parley calls"
	case errors.Is(err, node.ErrUnreachable):
		return http.StatusServiceUnavailable, "the account's devices must be running and connected to a bootstrap"
	case errors.Is(err, node.ErrNoContact), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "see: parley contacts"
	case errors.Is(err, node.ErrNotFound):
		return http.StatusNotFound, "the account has not published a record: is its daemon running and connected to a bootstrap?"
	case errors.Is(err, node.ErrConflict):
		return http.StatusConflict, ""
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout, ""
	}
	return http.StatusInternalServerError, ""
}

func writeError(w http.ResponseWriter, status int, msg, hint string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apitype.Error{Error: msg, Hint: hint})
}

// serveEvents streams events as NDJSON until the client goes away.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "events needs GET", "")
		return
	}
	ch, cancel := h.b.Subscribe()
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// Listen opens the API's unix socket at path with mode 0600. A socket file
// left by a crashed daemon is replaced; one a live daemon answers on is not.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("local API: another daemon is serving on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local API: removing stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local API: %w", err)
	}
	return ln, nil
}

// Serve serves the handler on ln until ctx is done, then shuts down.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("local API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}
