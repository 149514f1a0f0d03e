// Package apitype holds the JSON types of parleyd's local control API. It is
// shared by the daemon (package localapi) and its clients (package
// localclient, the parley CLI) and imports nothing heavy, so the CLI stays a
// thin client that never links libp2p or pion.
package apitype

import "time"

// Prefix is the versioned path prefix of every local API endpoint.
const Prefix = "/localapi/v0/"

// SocketName is the name of the unix socket parleyd serves the API on,
// inside its data directory.
const SocketName = "parleyd.sock"

// Identity describes the account and device a node runs as.
type Identity struct {
	AccountID   string      `json:"account_id"`
	DeviceID    string      `json:"device_id"`
	DeviceName  string      `json:"device_name"`
	KeysSealed  bool        `json:"keys_sealed"`
	AccountCert CertSummary `json:"account_cert"`
	DeviceCert  CertSummary `json:"device_cert"`
	Devices     int         `json:"devices"`
	CRLNumber   uint64      `json:"crl_number"`
	DataDir     string      `json:"data_dir,omitempty"`
}

// CertSummary is the human-relevant part of an X.509 certificate.
type CertSummary struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	File      string    `json:"file,omitempty"`
}

// Error is the body of every non-2xx API response.
type Error struct {
	// Error says what went wrong.
	Error string `json:"error"`
	// Hint, when set, says what the user can do about it.
	Hint string `json:"hint,omitempty"`
}

// Status is the daemon's state: who it is and how it is connected.
type Status struct {
	Identity     Identity    `json:"identity"`
	Running      bool        `json:"running"`
	Reachability string      `json:"reachability"` // "unknown", "public" or "private" (AutoNAT)
	DHTMode      string      `json:"dht_mode"`     // "client" or "server"
	Addrs        []string    `json:"addrs"`
	Bootstraps   []Bootstrap `json:"bootstraps"`
	Peers        int         `json:"peers"`
	Published    time.Time   `json:"published,omitempty"` // last successful presence publish
	Pending      int         `json:"pending"`             // contact messages waiting for delivery
}

// Bootstrap is one configured bootstrap server and whether we are connected.
type Bootstrap struct {
	PeerID    string `json:"peer_id"`
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
}

// Lookup is the result of resolving an account ID to its devices.
type Lookup struct {
	AccountID string         `json:"account_id"`
	Seq       uint64         `json:"seq"`
	Devices   []LookupDevice `json:"devices"`
	TookMS    float64        `json:"took_ms"`
}

// LookupDevice is one device of a looked-up account.
type LookupDevice struct {
	DeviceID  string   `json:"device_id"`
	Name      string   `json:"name"`
	Online    bool     `json:"online"` // a current presence record was found
	Addrs     []string `json:"addrs,omitempty"`
	Connected bool     `json:"connected"`
	Path      string   `json:"path,omitempty"` // "direct" or "relay"
	Error     string   `json:"error,omitempty"`
}

// Contact is one entry of the contact list.
type Contact struct {
	AccountID string    `json:"account_id"`
	Name      string    `json:"name,omitempty"`
	State     string    `json:"state"` // request-sent, request-received, accepted, blocked
	Message   string    `json:"message,omitempty"`
	Pending   bool      `json:"pending,omitempty"` // a message to this contact awaits delivery
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// ContactRequest is the body of contact operations.
type ContactRequest struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Event is one line of the event stream (NDJSON on GET events).
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Account is the account the event is about, when there is one.
	Account string `json:"account,omitempty"`
	Device  string `json:"device,omitempty"`
	Message string `json:"message,omitempty"`
}

// Event types.
const (
	EventContactRequest    = "contact.request"
	EventContactAccepted   = "contact.accepted"
	EventContactDeclined   = "contact.declined"
	EventContactDelivered  = "contact.delivered"
	EventContactRefused    = "contact.refused"
	EventPresencePublished = "presence.published"
	EventBootstrapUp       = "bootstrap.connected"
	EventBootstrapDown     = "bootstrap.disconnected"
)
