package localapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// DevicesBackend is what the linking, device and sync endpoints drive;
// *node.Node implements it.
type DevicesBackend interface {
	ApproveLink(ctx context.Context, req apitype.LinkApprove) (*apitype.LinkSession, error)
	ConfirmLink(ctx context.Context, req apitype.LinkConfirm) (*apitype.LinkSession, error)
	Devices() ([]apitype.Device, error)
	RevokeDevice(ctx context.Context, device string) (*apitype.Revocation, error)
	RenameContact(account, name string) (*apitype.Contact, error)
}

func init() {
	handlers["link/approve"] = endpoint{http.MethodPost, devicesOp(func(d DevicesBackend, r *http.Request) (any, error) {
		var req apitype.LinkApprove
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if req.Code == "" {
			return nil, fmt.Errorf("%w: code is required", node.ErrInvalidInput)
		}
		return d.ApproveLink(r.Context(), req)
	})}
	handlers["link/confirm"] = endpoint{http.MethodPost, devicesOp(func(d DevicesBackend, r *http.Request) (any, error) {
		var req apitype.LinkConfirm
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return d.ConfirmLink(r.Context(), req)
	})}
	handlers["devices"] = endpoint{http.MethodGet, devicesOp(func(d DevicesBackend, _ *http.Request) (any, error) {
		return d.Devices()
	})}
	handlers["devices/revoke"] = endpoint{http.MethodPost, devicesOp(func(d DevicesBackend, r *http.Request) (any, error) {
		var req apitype.DeviceRevoke
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if req.DeviceID == "" {
			return nil, fmt.Errorf("%w: device_id is required", node.ErrInvalidInput)
		}
		return d.RevokeDevice(r.Context(), req.DeviceID)
	})}
	handlers["contacts/rename"] = endpoint{http.MethodPost, devicesOp(func(d DevicesBackend, r *http.Request) (any, error) {
		var req apitype.ContactRename
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if req.AccountID == "" {
			return nil, fmt.Errorf("%w: account_id is required", node.ErrInvalidInput)
		}
		return d.RenameContact(req.AccountID, req.Name)
	})}
}

// devicesOp adapts a handler of the DevicesBackend and gives its errors
// the HTTP status they deserve.
func devicesOp(op func(DevicesBackend, *http.Request) (any, error)) handler {
	return func(b Backend, r *http.Request) (any, error) {
		d, ok := b.(DevicesBackend)
		if !ok {
			return nil, errors.New("this daemon does not support linking devices")
		}
		v, err := op(d, r)
		if err != nil {
			return nil, deviceStatus(err)
		}
		return v, nil
	}
}

// statusError keeps an error's message and adds a sentinel that classify
// maps to an HTTP status.
type statusError struct{ err, status error }

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() []error { return []error{e.err, e.status} }

// deviceStatus classifies linking and device errors: 400 for a bad code or
// SAS, an unknown device or session, 409 for refusals the user can act on,
// 503 when the new device cannot be reached.
func deviceStatus(err error) error {
	var status error
	switch {
	case errors.Is(err, node.ErrLinkSAS), errors.Is(err, node.ErrLinkProof),
		errors.Is(err, node.ErrUnknownDevice), errors.Is(err, node.ErrNoLinkSession):
		status = node.ErrInvalidInput
	case errors.Is(err, node.ErrLinkUnreachable):
		status = node.ErrUnreachable
	case errors.Is(err, node.ErrLinkExpired), errors.Is(err, node.ErrLinkUsed), errors.Is(err, node.ErrLinkInUse),
		errors.Is(err, node.ErrLinkAttempts), errors.Is(err, node.ErrLinkRefused), errors.Is(err, node.ErrDeviceRevoked):
		status = node.ErrConflict
	default:
		return err
	}
	return &statusError{err: err, status: status}
}
