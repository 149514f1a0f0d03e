package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	pcrypto "github.com/parleyhq/parley/crypto"
)

// MaxBody bounds a local-API request body.
const MaxBody = 64 << 10

// Endpoint is one local-API operation: the one HTTP method it accepts and
// the function that serves it (its result is sent as JSON with status 200;
// an error is mapped to a status by the local API).
type Endpoint struct {
	Method string
	Serve  func(r *http.Request) (any, error)
}

// Endpoints maps a path below the API's prefix (apitype.Prefix) to its
// endpoint. Each service returns its own; the node merges them.
type Endpoints map[string]Endpoint

// Merge adds other's endpoints to e; a path served twice is an error.
func (e Endpoints) Merge(other Endpoints) error {
	for path, ep := range other {
		if _, dup := e[path]; dup {
			return fmt.Errorf("local API: %s is served twice", path)
		}
		e[path] = ep
	}
	return nil
}

// Get is a GET endpoint.
func Get(f func(r *http.Request) (any, error)) Endpoint {
	return Endpoint{Method: http.MethodGet, Serve: f}
}

// Post is a POST endpoint whose JSON body decodes into a T (bounded,
// unknown fields refused) before f runs.
func Post[T any](f func(r *http.Request, body T) (any, error)) Endpoint {
	return Endpoint{Method: http.MethodPost, Serve: func(r *http.Request) (any, error) {
		var body T
		if err := DecodeBody(r, &body); err != nil {
			return nil, err
		}
		return f(r, body)
	}}
}

// DecodeBody decodes a bounded JSON request body, refusing unknown fields.
func DecodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return fmt.Errorf("%w: request body: %v", ErrInvalidInput, err)
	}
	if len(body) > MaxBody {
		return fmt.Errorf("%w: request body larger than %d KiB (a message is at most 1 KiB, a name 128 bytes)", ErrInvalidInput, MaxBody>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrInvalidInput, err)
	}
	return nil
}

// OK is the result of an operation that returns nothing: {"ok": true}.
func OK(err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]bool{"ok": true}, nil
}

// Required fails with ErrInvalidInput when v is empty.
func Required(name, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidInput, name)
	}
	return nil
}

// ParseAccount parses the account ID in field name of a local API request:
// the one place an account ID given as text enters a service. A missing or
// malformed ID fails with ErrInvalidInput; a missing one names the field,
// a malformed one says what it is not (the field's name would only repeat
// it: "account_id: … is not an account ID").
func ParseAccount(name, v string) (pcrypto.AccountID, error) {
	if err := Required(name, v); err != nil {
		return pcrypto.AccountID{}, err
	}
	id, err := pcrypto.ParseAccountID(v)
	if err != nil {
		return pcrypto.AccountID{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return id, nil
}

// ParseDevice parses the device ID in field name of a local API request,
// like ParseAccount.
func ParseDevice(name, v string) (pcrypto.DeviceID, error) {
	if err := Required(name, v); err != nil {
		return "", err
	}
	d, err := pcrypto.ParseDeviceID(v)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a device ID (device IDs start with 12D3KooW; see parley devices): %w", ErrInvalidInput, truncateID(v), err)
	}
	return d, nil
}

// MarkdownTable renders a state table as docs/protocol.md shows it: the
// corner label, one column per input, one row per state (bold), and
// cell(row, col) in each cell. The services' transition tables use it so
// that a test can check the docs hold the table the code runs.
func MarkdownTable(corner string, rows, cols []string, cell func(r, c int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s |", corner)
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for r, name := range rows {
		fmt.Fprintf(&b, "| %s |", name)
		for c := range cols {
			fmt.Fprintf(&b, " %s |", cell(r, c))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Names returns the string forms of a list of named string values.
func Names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// truncateID shortens what the user gave for an error message.
func truncateID(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
