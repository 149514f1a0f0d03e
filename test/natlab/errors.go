package natlab

import "errors"

// ErrNotSupported is returned when the machine cannot run the lab: not
// root, not Linux, or `ip`/`iptables` missing.
var ErrNotSupported = errors.New("natlab: lab not supported here")

// ErrBadKind is returned for a NAT kind name that is not one of none, cone,
// symmetric, udp-blocked.
var ErrBadKind = errors.New("natlab: unknown NAT kind")

// ErrBadOptions is returned for lab options that make no topology (no
// sites, too many, negative delay, loss outside [0, 1)).
var ErrBadOptions = errors.New("natlab: bad options")

// ErrDown is returned by operations on a lab that was torn down.
var ErrDown = errors.New("natlab: lab is down")

// ErrMalformed is returned by the decoders (netlink messages, captured IPv4
// packets, libp2p secure-channel framing) for bytes they cannot parse.
var ErrMalformed = errors.New("natlab: malformed data")

// ErrCleartext is returned by the capture checks when bytes that must only
// travel encrypted were found in the clear.
var ErrCleartext = errors.New("natlab: cleartext seen")
