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
	// Role is "admin" (the device holds the account key) or "member".
	Role    string `json:"role"`
	DataDir string `json:"data_dir,omitempty"`
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
	// SignallingDropped counts call signalling messages refused as
	// malformed, oversized, forged or addressed to someone else.
	SignallingDropped uint64 `json:"signalling_dropped"`
	// Revoked, when set, says that this device is on its account's CRL
	// and no longer acts for the account.
	Revoked string `json:"revoked,omitempty"`
	// Dropped counts what the node dropped to stay within its bounds
	// (docs/threat-model.md lists each with its default), by kind:
	// "contact_requests" (oldest pending requests from strangers),
	// "account_records" (record-cache evictions), "conference_invitations"
	// (oldest pending invitations).
	Dropped map[string]uint64 `json:"dropped"`
	// Cached counts what the node holds of what others sent, by kind:
	// "account_records" (the account-record cache).
	Cached map[string]int `json:"cached"`
	// Memory is the daemon's own memory use.
	Memory Memory `json:"memory"`
}

// Memory is a daemon's memory use, for watching it under load.
type Memory struct {
	// HeapLiveBytes is the live Go heap: what the last garbage collection
	// kept (runtime/metrics "/gc/heap/live:bytes").
	HeapLiveBytes uint64 `json:"heap_live_bytes"`
	// Goroutines is the number of goroutines.
	Goroutines int `json:"goroutines"`
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
	Type EventType `json:"type"`
	Time time.Time `json:"time"`
	// Account is the account the event is about, when there is one.
	Account string `json:"account,omitempty"`
	Device  string `json:"device,omitempty"`
	Message string `json:"message,omitempty"`
	// Call is the call ID, for call events.
	Call string `json:"call,omitempty"`
}

// EventType names what an event is about.
type EventType string

// Event types.
const (
	EventContactRequest    EventType = "contact.request"
	EventContactAccepted   EventType = "contact.accepted"
	EventContactDeclined   EventType = "contact.declined"
	EventContactDelivered  EventType = "contact.delivered"
	EventContactRefused    EventType = "contact.refused"
	EventContactRemoved    EventType = "contact.removed"
	EventPresencePublished EventType = "presence.published"
	EventBootstrapUp       EventType = "bootstrap.connected"
	EventBootstrapDown     EventType = "bootstrap.disconnected"
)

// CallRequest starts a call.
type CallRequest struct {
	AccountID string `json:"account_id"`
	// Audio is the audio source: "tone", "tone:HZ", an Ogg/Opus file, or
	// rtp://127.0.0.1:PORT. Empty means "tone"; "none" sends no audio.
	Audio string `json:"audio,omitempty"`
	// Video is the video source: an IVF file or rtp://127.0.0.1:PORT.
	// Empty means no video.
	Video string `json:"video,omitempty"`
	// Record is where received media goes: a directory (Ogg/IVF files),
	// rtp://127.0.0.1:PORT, or empty for counters only.
	Record string `json:"record,omitempty"`
}

// CallAction names a call for answer, decline and hangup. An empty ID means
// the only call in a state the action applies to.
type CallAction struct {
	CallID string `json:"call_id,omitempty"`
	Audio  string `json:"audio,omitempty"`  // answer: audio source, as in CallRequest
	Video  string `json:"video,omitempty"`  // answer: video source
	Record string `json:"record,omitempty"` // answer: where received media goes
}

// Call is the state and statistics of one call.
type Call struct {
	ID         string `json:"id"`
	Direction  string `json:"direction"` // "outgoing" or "incoming"
	Peer       string `json:"peer"`      // the other account
	PeerDevice string `json:"peer_device,omitempty"`
	State      string `json:"state"` // calling, ringing, connecting, connected, ended
	Reason     string `json:"reason,omitempty"`
	SAS        string `json:"sas,omitempty"`
	// Unverified is set on the callee when the caller's SAS confirmation
	// never came: there is no SAS to compare, which is what a man in the
	// middle would cause. The media is encrypted, but to whom is unknown.
	Unverified bool      `json:"unverified,omitempty"`
	Started    time.Time `json:"started"`
	// SetupMS is the time from the call's start on this side (Started:
	// the request on the caller, the offer's arrival on the callee) to the
	// first decrypted media packet received.
	SetupMS float64  `json:"setup_ms,omitempty"`
	Path    CallPath `json:"path"`
	Streams []Stream `json:"streams,omitempty"`
	// Dropped counts received packets dropped as garbage, truncated,
	// unauthenticated or replayed.
	Dropped uint64 `json:"dropped"`
	// ToneHz is the frequency of the test tone detected in received PCMU
	// audio, 0 when none.
	ToneHz float64 `json:"tone_hz,omitempty"`
	// RecordError says why received media of a kind is not being
	// recorded (for example a codec the named file cannot hold).
	RecordError string `json:"record_error,omitempty"`
	// Timeline is when each step of the call's setup happened on this
	// side, in order, in milliseconds since Started: the request on the
	// caller (lookups included), the offer's arrival on the callee. See
	// CallStep.
	Timeline []CallMark `json:"timeline,omitempty"`
	// ICERestarts counts the ICE restarts of the call (a network change,
	// a path gone silent, either side's).
	ICERestarts int `json:"ice_restarts,omitempty"`
}

// CallMark is one step of a call's setup and when it happened.
type CallMark struct {
	Step CallStep `json:"step"`
	MS   float64  `json:"ms"`
}

// CallStep names a step of call setup (docs/localapi.md lists them).
type CallStep string

// The steps of call setup, in the order they usually happen.
const (
	StepRequested     CallStep = "requested"       // caller: the API request arrived
	StepResolved      CallStep = "resolved"        // caller: the callee's devices resolved and connected
	StepStreamOpen    CallStep = "stream_open"     // caller: signalling stream to a device open
	StepOfferSent     CallStep = "offer_sent"      // caller: signed offer written
	StepOfferReceived CallStep = "offer_received"  // callee: offer read off the stream
	StepOfferChecked  CallStep = "offer_checked"   // callee: offer verified (signature, chain, account record)
	StepRinging       CallStep = "ringing"         // caller: the callee said it rings
	StepAnswerSent    CallStep = "answer_sent"     // callee: signed answer written
	StepAnswered      CallStep = "answer_received" // caller: answer verified, keys agreed
	StepICEConnected  CallStep = "ice_connected"   // a candidate pair was selected
	StepFirstSent     CallStep = "first_media_sent"
	StepFirstReceived CallStep = "first_media_received" // first decrypted packet
)

// CallPath is the ICE candidate pair a call uses.
type CallPath struct {
	Kind    string  `json:"kind,omitempty"` // "direct" or "relay"
	Local   string  `json:"local,omitempty"`
	Remote  string  `json:"remote,omitempty"`
	Network string  `json:"network,omitempty"`
	RTTMS   float64 `json:"rtt_ms,omitempty"`
	// LocalAddress and RemoteAddress are the pair's host:port: for a
	// relay candidate, the address relayed on the TURN server.
	LocalAddress  string `json:"local_address,omitempty"`
	RemoteAddress string `json:"remote_address,omitempty"`
}

// Stream is one RTP stream of a call.
type Stream struct {
	Direction string  `json:"direction"` // "send" or "receive"
	Kind      string  `json:"kind"`
	Codec     string  `json:"codec"`
	SSRC      uint32  `json:"ssrc"`
	Packets   uint64  `json:"packets"`
	Bytes     uint64  `json:"bytes"`
	Lost      int64   `json:"lost"`
	JitterMS  float64 `json:"jitter_ms,omitempty"`
	// GapsMS are the latest silences of 100 ms or more between two
	// received packets (receive streams only), oldest first.
	GapsMS []float64 `json:"gaps_ms,omitempty"`
}

// Call event types.
const (
	EventCallIncoming   EventType = "call.incoming"
	EventCallRinging    EventType = "call.ringing"
	EventCallAnswered   EventType = "call.answered"
	EventCallSAS        EventType = "call.sas"
	EventCallUnverified EventType = "call.unverified"
	// EventCallRecordFailed: received media cannot be recorded where the
	// call asked; message = why.
	EventCallRecordFailed EventType = "call.record_failed"
	EventCallConnected    EventType = "call.connected" // the ICE pair is up; message = path
	EventCallMedia        EventType = "call.media"     // first decrypted media packet
	EventCallEnded        EventType = "call.ended"
)

// Setting is one key/value setting of the node.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Conference is a group call: a full mesh of pairwise calls.
type Conference struct {
	ID           string        `json:"id"`
	Max          int           `json:"max"`
	Joined       bool          `json:"joined"`            // false: invited, not joined yet
	Inviter      string        `json:"inviter,omitempty"` // who invited us
	Participants []Participant `json:"participants"`
}

// Participant is one member of a conference and our call with it.
type Participant struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	Name    string `json:"name,omitempty"`
	Self    bool   `json:"self,omitempty"`
	// Call is the pairwise call with this participant: path, streams,
	// loss, jitter, RTT.
	Call *Call `json:"call,omitempty"`
}

// ConferenceRequest is the body of conference operations.
type ConferenceRequest struct {
	ConferenceID string `json:"conference_id,omitempty"`
	AccountID    string `json:"account_id,omitempty"` // invite
	Max          int    `json:"max,omitempty"`        // start
	Audio        string `json:"audio,omitempty"`
	Video        string `json:"video,omitempty"`
	Record       string `json:"record,omitempty"`
}

// Conference event types.
const (
	EventConferenceInvite EventType = "conference.invited"
	EventConferenceJoined EventType = "conference.joined" // a participant joined
	EventConferenceLeft   EventType = "conference.left"   // a participant's call ended
)
