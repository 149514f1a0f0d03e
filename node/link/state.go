package link

import (
	"fmt"

	"github.com/parleyhq/parley/node/service"
)

// phase is where one side of a link session stands. Each side reads its
// messages in one order; in every phase one message type is expected next
// and any other ends the session (an "error" message ends it with the
// sender's reason). The steps taken by a person (comparing the SAS and
// confirming on the approving device) sit between phases.
type phase string

// The phases of both sides.
const (
	// The new device (it shows the code and waits to be dialled).
	phaseNewAwaitHello    phase = "new: await hello"
	phaseNewAwaitReveal   phase = "new: await reveal"   // device sent
	phaseNewAwaitTransfer phase = "new: await transfer" // SAS shown
	phaseNewLinked        phase = "new: linked"         // identity stored, done sent
	// The approving device (it dials the device named in the code).
	phaseApproverAwaitDevice phase = "approver: await device" // hello sent
	phaseApproverConfirm     phase = "approver: confirm SAS"  // reveal sent, SAS shown; the user confirms
	phaseApproverAwaitDone   phase = "approver: await done"   // transfer sent
	phaseApproverLinked      phase = "approver: linked"       // device added to the account
)

// phases lists the phases in the docs' order.
var phases = []phase{
	phaseNewAwaitHello, phaseNewAwaitReveal, phaseNewAwaitTransfer, phaseNewLinked,
	phaseApproverAwaitDevice, phaseApproverConfirm, phaseApproverAwaitDone, phaseApproverLinked,
}

// linkMsgTypes lists the message types in the docs' order.
var linkMsgTypes = []string{linkHello, linkDevice, linkReveal, linkTransfer, linkDone, linkError}

// linkStep is one row of the table: the message a phase reads and the
// phase it leads to.
type linkStep struct {
	want string
	next phase
}

// linkSteps is the link session state machine. Phases without a row read
// nothing: the session waits for the user (approver: confirm SAS) or is
// over.
var linkSteps = map[phase]linkStep{
	phaseNewAwaitHello:       {linkHello, phaseNewAwaitReveal},
	phaseNewAwaitReveal:      {linkReveal, phaseNewAwaitTransfer},
	phaseNewAwaitTransfer:    {linkTransfer, phaseNewLinked},
	phaseApproverAwaitDevice: {linkDevice, phaseApproverConfirm},
	phaseApproverAwaitDone:   {linkDone, phaseApproverLinked},
}

// linkTableMarkdown renders the table as docs/protocol.md shows it.
func linkTableMarkdown() string {
	return service.MarkdownTable("phase \\ message", service.Names(phases), linkMsgTypes, func(r, c int) string {
		st, reads := linkSteps[phases[r]]
		switch t := linkMsgTypes[c]; {
		case !reads:
			return "–"
		case t == st.want:
			return "→ " + string(st.next)
		case t == linkError:
			return "ends (their reason)"
		}
		return "ends (invalid)"
	})
}

// userConfirmed moves the approver's session on once its user confirmed
// the SAS: the transfer is sent next.
func (c *linkConn) userConfirmed() error {
	if c.phase != phaseApproverConfirm {
		return fmt.Errorf("link: confirmed in phase %q", c.phase)
	}
	c.phase = phaseApproverAwaitDone
	return nil
}
