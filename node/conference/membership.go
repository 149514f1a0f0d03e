package conference

import (
	"strings"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/service"
)

// memberState is where another participant stands in a conference this
// device has joined.
type memberState string

// The states of a member.
const (
	memberUnknown memberState = "unknown" // not in our roster
	memberKnown   memberState = "known"   // in our roster, no pairwise call (yet)
	memberInCall  memberState = "in call" // our pairwise call with it is attached
)

var memberStates = []memberState{memberUnknown, memberKnown, memberInCall}

// memberInput is what changes a member's state.
type memberInput string

// The inputs.
const (
	// inListed: named in a roster we received (an invite, or a members
	// message from a participant).
	inListed memberInput = "listed"
	// inJoin: its own join message arrived.
	inJoin memberInput = "join"
	// inCallUp: a pairwise call with it was attached (ours or its).
	inCallUp memberInput = "call up"
	// inCallEnded: that call ended (it left, crashed or could not be
	// reached).
	inCallEnded memberInput = "call ended"
	// inLeave: its leave message arrived.
	inLeave memberInput = "leave"
)

var memberInputs = []memberInput{inListed, inJoin, inCallUp, inCallEnded, inLeave}

// action is something a transition does besides moving the state.
type action uint8

const (
	actSendJoin    action = 1 << iota // introduce ourselves to it (join message)
	actSendMembers                    // send it our roster (members message)
	actCall                           // place the pairwise call, if we are the caller of the pair
	actLeft                           // publish conference.left
	actRefuse                         // refuse the input (an offer or a join)
)

// memberStep is one cell of the membership table.
type memberStep struct {
	next memberState
	act  action
}

// membership is the membership state machine of a joined conference, per
// other participant. It converges to a full mesh whatever the order of
// invitations, joins and leaves: a joiner gets the roster of every member
// it introduces itself to (members message), introduces itself to every
// member it learns of that way, and of each pair exactly one side — the
// one with the smaller device ID — places the call, so two participants
// who learn of each other at the same time do not call each other twice.
// Membership is verified (each roster entry carries its certificate chain)
// and bounded by the conference's max.
var membership = map[memberState]map[memberInput]memberStep{
	memberUnknown: {
		inListed:    {memberKnown, actSendJoin | actCall},
		inJoin:      {memberKnown, actSendMembers | actCall},
		inCallUp:    {memberUnknown, actRefuse},
		inCallEnded: {memberUnknown, 0},
		inLeave:     {memberUnknown, 0},
	},
	memberKnown: {
		inListed:    {memberKnown, 0},
		inJoin:      {memberKnown, actSendMembers | actCall},
		inCallUp:    {memberInCall, 0},
		inCallEnded: {memberUnknown, actLeft},
		inLeave:     {memberUnknown, actLeft},
	},
	memberInCall: {
		inListed:    {memberInCall, 0},
		inJoin:      {memberInCall, actSendMembers},
		inCallUp:    {memberInCall, 0},
		inCallEnded: {memberUnknown, actLeft},
		inLeave:     {memberUnknown, actLeft},
	},
}

// stepMember returns the transition of in for a member in state s.
func stepMember(s memberState, in memberInput) memberStep { return membership[s][in] }

// places reports whether this device (self) places the pairwise call with
// other: the smaller device ID calls.
func places(self, other pcrypto.DeviceID) bool { return self.String() < other.String() }

// membershipMarkdown renders the table as docs/protocol.md shows it.
func membershipMarkdown() string {
	names := []struct {
		a action
		s string
	}{{actSendJoin, "send join"}, {actSendMembers, "send members"}, {actCall, "call if smaller ID"}, {actLeft, "left"}, {actRefuse, "refused"}}
	rows := make([]string, len(memberStates))
	for i, s := range memberStates {
		rows[i] = "**" + string(s) + "**"
	}
	return service.MarkdownTable("member \\ input", rows, service.Names(memberInputs), func(r, c int) string {
		st := stepMember(memberStates[r], memberInputs[c])
		cell := []string{string(st.next)}
		for _, n := range names {
			if st.act&n.a != 0 {
				cell = append(cell, n.s)
			}
		}
		return strings.Join(cell, ", ")
	})
}
