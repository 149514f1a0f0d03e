package calls

import "github.com/parleyhq/parley/node/service"

// State is where a call stands, as the local API shows it.
type State string

// The states of a call. An outgoing call starts in StateCalling, an
// incoming one in StateRinging.
const (
	StateCalling    State = "calling"    // offer sent, nothing heard yet
	StateRinging    State = "ringing"    // a device of the callee rings (or: we ring)
	StateConnecting State = "connecting" // answered; ICE in progress
	StateConnected  State = "connected"  // media path up
	StateEnded      State = "ended"
)

// States lists every call state, in the order of the docs' table.
var States = []State{StateCalling, StateRinging, StateConnecting, StateConnected, StateEnded}

// Input is what moves a call.
type Input string

// The inputs of the call state machine.
const (
	// InRinging: a rung device of the callee says it rings (caller side).
	InRinging Input = "ringing"
	// InAnswered: an answer won the call (caller: the first valid answer;
	// callee: the user answered here).
	InAnswered Input = "answered"
	// InMediaUp: ICE connected on the winning leg (again after a path
	// change).
	InMediaUp Input = "media up"
	// InEnd: hang-up, decline, busy, cancel, answered elsewhere, a
	// timeout, an error or the daemon stopping.
	InEnd Input = "end"
)

// Inputs lists every input, in the order of the docs' table.
var Inputs = []Input{InRinging, InAnswered, InMediaUp, InEnd}

// callTable is the call state machine: state × input → next state. A pair
// that is absent is ignored (a late "ringing" from a second device after
// the answer, say, must not move a connected call back). The table
// docs/protocol.md shows is this one (TestCallTableDocumented).
var callTable = map[State]map[Input]State{
	StateCalling:    {InRinging: StateRinging, InAnswered: StateConnecting, InEnd: StateEnded},
	StateRinging:    {InRinging: StateRinging, InAnswered: StateConnecting, InEnd: StateEnded},
	StateConnecting: {InMediaUp: StateConnected, InEnd: StateEnded},
	StateConnected:  {InMediaUp: StateConnected, InEnd: StateEnded},
	StateEnded:      {},
}

// StepCall returns the state after in, and whether in moves the call at all.
func StepCall(s State, in Input) (State, bool) {
	next, ok := callTable[s][in]
	return next, ok
}

// CallTableMarkdown renders the call table as docs/protocol.md shows it.
func CallTableMarkdown() string {
	rows := make([]string, len(States))
	for i, s := range States {
		rows[i] = "**" + string(s) + "**"
	}
	return service.MarkdownTable("state \\ input", rows, service.Names(Inputs), func(r, c int) string {
		if next, ok := StepCall(States[r], Inputs[c]); ok {
			return string(next)
		}
		return "ignored"
	})
}
