package contacts

import (
	"fmt"
	"strings"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/store"
)

// State is where a contact stands. StateNone is an account with no entry;
// the others are stored (store.ContactState).
type State = store.ContactState

// The states of a contact.
const (
	StateNone            State = "none"
	StateRequestSent     State = store.RequestSent
	StateRequestReceived State = store.RequestReceived
	StateAccepted        State = store.Accepted
	StateDeclined        State = store.Declined
	StateRemoved         State = store.Removed
	StateBlocked         State = store.Blocked
)

// States lists every state, in the order of the docs' table.
var States = []State{StateNone, StateRequestSent, StateRequestReceived, StateAccepted, StateDeclined, StateRemoved, StateBlocked}

// Input is what can move a contact: an action of the local user (API) or a
// verified message from one of the other account's devices.
type Input string

// The inputs.
const (
	APIAdd     Input = "add"
	APIAccept  Input = "accept"
	APIDecline Input = "decline"
	APIBlock   Input = "block"
	APIRemove  Input = "remove"
	MsgRequest Input = "recv request"
	MsgAccept  Input = "recv accept"
	MsgDecline Input = "recv decline"
	MsgRemove  Input = "recv remove"
	MsgUpdate  Input = "recv update"
)

// Inputs lists every input, in the order of the docs' table.
var Inputs = []Input{APIAdd, APIAccept, APIDecline, APIBlock, APIRemove, MsgRequest, MsgAccept, MsgDecline, MsgRemove, MsgUpdate}

// fromAPI reports whether in is a local user's action.
func (in Input) fromAPI() bool { return !strings.HasPrefix(string(in), "recv ") }

// Outcome is what an input does in a state.
type Outcome int

// The outcomes.
const (
	// Refuse leaves the contact as it is: an API call fails with
	// ErrConflict (ErrNoContact in state none), a message is answered
	// with code "unexpected" so its sender stops retrying.
	Refuse Outcome = iota
	// Move goes to Next (which may equal the current state: a refresh).
	Move
	// Ignore leaves the contact as it is and answers the message "ok"
	// (a duplicate, or a message from a blocked account, whose sender
	// is not told).
	Ignore
)

// Transition is one cell of the table.
type Transition struct {
	Outcome Outcome
	// Next is the state after a Move.
	Next State
	// Send is the message kind queued to the other account, if any.
	Send string
	// Event is the event published, if any.
	Event apitype.EventType
	// Why explains a refusal.
	Why string
}

func move(next State, send string, event apitype.EventType) Transition {
	return Transition{Outcome: Move, Next: next, Send: send, Event: event}
}

func refuse(why string) Transition { return Transition{Outcome: Refuse, Why: why} }

var ignore = Transition{Outcome: Ignore}

// Refusal reasons shared by several cells.
const (
	whyNoRequest  = "no contact request pending from this account"
	whyNotContact = "not a contact"
	whyBlocked    = "blocked; remove it first (parley contact remove)"
	whyAccepted   = "already a contact"
)

// table is the contact state machine: state × input → transition. Every
// pair is present (TestTransitionTableComplete); docs/protocol.md shows
// the same table (TestTransitionTableDocumented).
var table = map[State]map[Input]Transition{
	StateNone: {
		APIAdd:     move(StateRequestSent, kindRequest, ""),
		APIAccept:  refuse(whyNoRequest),
		APIDecline: refuse(whyNoRequest),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  refuse(whyNotContact),
		MsgRequest: move(StateRequestReceived, "", apitype.EventContactRequest),
		MsgAccept:  refuse(whyNoRequest),
		MsgDecline: ignore,
		MsgRemove:  ignore,
		MsgUpdate:  refuse(whyNotContact),
	},
	StateRequestSent: {
		APIAdd:     move(StateRequestSent, kindRequest, ""),
		APIAccept:  refuse(whyNoRequest),
		APIDecline: refuse(whyNoRequest),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, "", ""),
		MsgRequest: move(StateAccepted, kindAccept, apitype.EventContactAccepted),
		MsgAccept:  move(StateAccepted, kindUpdate, apitype.EventContactAccepted),
		MsgDecline: move(StateDeclined, "", apitype.EventContactDeclined),
		MsgRemove:  move(StateDeclined, "", apitype.EventContactDeclined),
		MsgUpdate:  refuse(whyNotContact),
	},
	StateRequestReceived: {
		APIAdd:     move(StateAccepted, kindAccept, apitype.EventContactAccepted),
		APIAccept:  move(StateAccepted, kindAccept, apitype.EventContactAccepted),
		APIDecline: move(StateNone, kindDecline, ""),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, "", ""),
		MsgRequest: move(StateRequestReceived, "", apitype.EventContactRequest),
		MsgAccept:  refuse(whyNoRequest),
		MsgDecline: ignore,
		MsgRemove:  move(StateNone, "", ""),
		MsgUpdate:  refuse(whyNotContact),
	},
	StateAccepted: {
		APIAdd:     refuse(whyAccepted),
		APIAccept:  refuse(whyAccepted),
		APIDecline: refuse(whyAccepted),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, kindRemove, ""),
		MsgRequest: move(StateAccepted, kindAccept, ""),
		MsgAccept:  ignore,
		MsgDecline: ignore,
		MsgRemove:  move(StateRemoved, "", apitype.EventContactRemoved),
		MsgUpdate:  move(StateAccepted, "", ""),
	},
	StateDeclined: {
		APIAdd:     move(StateRequestSent, kindRequest, ""),
		APIAccept:  refuse(whyNoRequest),
		APIDecline: refuse(whyNoRequest),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, "", ""),
		MsgRequest: move(StateRequestReceived, "", apitype.EventContactRequest),
		MsgAccept:  refuse(whyNoRequest),
		MsgDecline: ignore,
		MsgRemove:  ignore,
		MsgUpdate:  refuse(whyNotContact),
	},
	StateRemoved: {
		APIAdd:     move(StateRequestSent, kindRequest, ""),
		APIAccept:  refuse(whyNoRequest),
		APIDecline: refuse(whyNoRequest),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, "", ""),
		MsgRequest: move(StateRequestReceived, "", apitype.EventContactRequest),
		MsgAccept:  refuse(whyNoRequest),
		MsgDecline: ignore,
		MsgRemove:  ignore,
		MsgUpdate:  refuse(whyNotContact),
	},
	StateBlocked: {
		APIAdd:     refuse(whyBlocked),
		APIAccept:  refuse(whyBlocked),
		APIDecline: refuse(whyBlocked),
		APIBlock:   move(StateBlocked, "", ""),
		APIRemove:  move(StateNone, "", ""),
		MsgRequest: ignore,
		MsgAccept:  ignore,
		MsgDecline: ignore,
		MsgRemove:  ignore,
		MsgUpdate:  ignore,
	},
}

// Step returns the transition of input in in state s.
func Step(s State, in Input) Transition {
	if t, ok := table[s][in]; ok {
		return t
	}
	return refuse(fmt.Sprintf("%s is not possible in state %s", in, s))
}

// TableMarkdown renders the table as docs/protocol.md shows it.
func TableMarkdown() string {
	rows := make([]string, len(States))
	for i, s := range States {
		rows[i] = "**" + string(s) + "**"
	}
	return service.MarkdownTable("state \\ input", rows, service.Names(Inputs), func(r, c int) string {
		return cell(Step(States[r], Inputs[c]))
	})
}

func cell(t Transition) string {
	switch t.Outcome {
	case Ignore:
		return "ignored"
	case Refuse:
		return "refused"
	}
	out := string(t.Next)
	if t.Send != "" {
		out += ", send " + t.Send
	}
	return out
}
