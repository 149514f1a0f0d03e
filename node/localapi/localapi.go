// Package localapi serves parleyd's local control API: HTTP/JSON on a unix
// socket (owner-only from its creation) under the versioned prefix /localapi/v0/, plus an
// NDJSON event stream. Each service of the node brings its own endpoints
// (service.Endpoints); this package routes to them, maps their errors to
// HTTP statuses and serves the events. Package localclient is its Go
// client and docs/localapi.md lists the endpoints.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/parleyhq/parley/internal/errtext"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/conference"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/devices"
	"github.com/parleyhq/parley/node/link"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// API is what the local API serves; *node.Node implements it.
type API interface {
	// Endpoints are the operations, by path below apitype.Prefix.
	Endpoints() (service.Endpoints, error)
	// Subscribe returns the event stream and a function that ends it.
	Subscribe() (<-chan apitype.Event, func())
}

// Handler serves the API.
type Handler struct {
	api API
	eps service.Endpoints
	log *slog.Logger
}

// NewHandler returns the API's HTTP handler.
func NewHandler(api API, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	eps, err := api.Endpoints()
	if err != nil {
		return nil, err
	}
	return &Handler{api: api, eps: eps, log: log}, nil
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
	ep, ok := h.eps[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %q", name), "")
		return
	}
	if r.Method != ep.Method {
		w.Header().Set("Allow", ep.Method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s needs %s", name, ep.Method), "")
		return
	}
	v, err := ep.Serve(r)
	if err != nil {
		status, hint := classify(err)
		if status == http.StatusInternalServerError {
			h.log.Error("local API", "endpoint", name, "err", err)
		} else {
			h.log.Debug("local API refused", "endpoint", name, "status", status, "err", err)
		}
		// The chain is for the log; the answer is one message for a
		// person: the cause, then (in the hint) what to do.
		msg := errtext.Clean(err.Error())
		writeError(w, status, msg, errtext.CleanHint(msg, hint))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// classify maps an error to an HTTP status and a hint for the user.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, account.ErrInvalidInput),
		errors.Is(err, link.ErrLinkSAS), errors.Is(err, link.ErrLinkProof),
		errors.Is(err, devices.ErrUnknownDevice), errors.Is(err, link.ErrNoLinkSession):
		return http.StatusBadRequest, ""
	case errors.Is(err, conference.ErrNoSuchConference):
		return http.StatusNotFound, "see: parley conference list"
	case errors.Is(err, conference.ErrConferenceFull):
		return http.StatusConflict, "the conference's --max is reached"
	case errors.Is(err, calls.ErrNoSuchCall):
		return http.StatusNotFound, "see: parley calls"
	case errors.Is(err, calls.ErrUnreachable):
		return http.StatusServiceUnavailable, "the account's devices must be running and connected to a bootstrap"
	case errors.Is(err, link.ErrLinkUnreachable):
		return http.StatusServiceUnavailable, ""
	case errors.Is(err, contacts.ErrNoContact), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "see: parley contacts"
	case errors.Is(err, presence.ErrNotFound):
		return http.StatusNotFound, "the account has not published a record: is its daemon running and connected to a bootstrap?"
	case errors.Is(err, service.ErrConflict),
		errors.Is(err, link.ErrLinkExpired), errors.Is(err, link.ErrLinkUsed), errors.Is(err, link.ErrLinkInUse),
		errors.Is(err, link.ErrLinkAttempts), errors.Is(err, link.ErrLinkRefused), errors.Is(err, devices.ErrDeviceRevoked),
		errors.Is(err, account.ErrNotAdmin):
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
	ch, cancel := h.api.Subscribe()
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

// Listen opens the API's unix socket at path, mode 0600 from the moment it
// exists (see listenPrivate): whoever can connect to it controls the
// account. A socket file left by a crashed daemon is replaced; one a live
// daemon answers on is not.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("local API: another daemon is serving on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local API: removing stale socket: %w", err)
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	if h := testHookListened; h != nil {
		h(path)
	}
	// Owner-only already; 0600 rather than 0700 is tidiness.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local API: %w", err)
	}
	return ln, nil
}

// testHookListened, set by tests, sees the socket as soon as it exists.
var testHookListened func(path string)

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
