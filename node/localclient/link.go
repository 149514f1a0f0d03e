package localclient

import (
	"context"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ApproveLink opens a link session for a code shown by a new device (and
// confirms it when req.SAS is set).
func (c *Client) ApproveLink(ctx context.Context, req apitype.LinkApprove) (*apitype.LinkSession, error) {
	var s apitype.LinkSession
	if err := c.post(ctx, "link/approve", req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ConfirmLink confirms (or cancels) a link session with the SAS the user
// read on the new device.
func (c *Client) ConfirmLink(ctx context.Context, req apitype.LinkConfirm) (*apitype.LinkSession, error) {
	var s apitype.LinkSession
	if err := c.post(ctx, "link/confirm", req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Devices lists the account's devices.
func (c *Client) Devices(ctx context.Context) ([]apitype.Device, error) {
	var ds []apitype.Device
	err := c.get(ctx, "devices", &ds)
	return ds, err
}

// RevokeDevice revokes a device of the account.
func (c *Client) RevokeDevice(ctx context.Context, device string) (*apitype.Revocation, error) {
	var r apitype.Revocation
	if err := c.post(ctx, "devices/revoke", apitype.DeviceRevoke{DeviceID: device}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PromoteDevice makes a member device of the account an admin: the daemon
// (an admin) sends it the account key over the devices' authenticated
// channel.
func (c *Client) PromoteDevice(ctx context.Context, device string) (*apitype.Device, error) {
	var d apitype.Device
	if err := c.post(ctx, "devices/promote", apitype.DevicePromote{DeviceID: device}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RenameContact changes a contact's local name.
func (c *Client) RenameContact(ctx context.Context, account, name string) (*apitype.Contact, error) {
	var ct apitype.Contact
	if err := c.post(ctx, "contacts/rename", apitype.ContactRename{AccountID: account, Name: name}, &ct); err != nil {
		return nil, err
	}
	return &ct, nil
}
