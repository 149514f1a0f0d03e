package apitype

import "time"

// LinkApprove is the body of link/approve: a link code shown by a new
// device. Without SAS the call opens a link session and returns its SAS for
// the user to compare; with SAS it confirms the session (opening it first
// when none is pending for the code).
type LinkApprove struct {
	Code string `json:"code"`
	SAS  string `json:"sas,omitempty"`
	// Admin makes the new device an admin: it receives the account key.
	// The default is a member device, which does not.
	Admin bool `json:"admin,omitempty"`
}

// LinkConfirm is the body of link/confirm: the SAS the user read on the
// new device (digits; spaces and dashes are ignored), or Cancel.
type LinkConfirm struct {
	Session string `json:"session"`
	SAS     string `json:"sas,omitempty"`
	Cancel  bool   `json:"cancel,omitempty"`
}

// LinkSession is a link session on the approving device.
type LinkSession struct {
	Session string `json:"session"`
	// State is "confirm" (waiting for the user to confirm the SAS) or
	// "linked" (the new device has its certificate and the account).
	State      string    `json:"state"`
	SAS        string    `json:"sas"`
	DeviceID   string    `json:"device_id"`
	DeviceName string    `json:"device_name,omitempty"`
	Expires    time.Time `json:"expires"` // confirm before this
	// Role is what the new device becomes: "member" (the default) or
	// "admin" (it receives the account key).
	Role string `json:"role,omitempty"`
}

// Link session states.
const (
	LinkStateConfirm = "confirm"
	LinkStateLinked  = "linked"
)

// Device is one device of the account, as this device knows it.
type Device struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name,omitempty"`
	Self     bool   `json:"self,omitempty"`
	// Role is "admin" or "member" as the account record this device holds
	// says (revoked devices have none).
	Role     string    `json:"role,omitempty"`
	Serial   string    `json:"serial"`
	Linked   time.Time `json:"linked,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Revoked  bool      `json:"revoked,omitempty"`
	// RevokedAt is the revocation time in the account's CRL.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// DevicePromote is the body of devices/promote.
type DevicePromote struct {
	DeviceID string `json:"device_id"`
}

// DeviceRevoke is the body of devices/revoke.
type DeviceRevoke struct {
	DeviceID string `json:"device_id"`
}

// Revocation is the result of devices/revoke.
type Revocation struct {
	Device    Device `json:"device"`
	CRLNumber uint64 `json:"crl_number"`
}

// ContactRename is the body of contacts/rename.
type ContactRename struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
}

// Device event types.
const (
	EventLinkSAS        = "link.sas"        // a link session waits for SAS confirmation; Message = SAS
	EventDeviceLinked   = "device.linked"   // a new device joined the account
	EventDeviceRevoked  = "device.revoked"  // a device was revoked (here or on another device)
	EventDevicePromoted = "device.promoted" // a member device became an admin
	EventSyncApplied    = "sync.applied"    // changes from another device were applied; Message = count
)
