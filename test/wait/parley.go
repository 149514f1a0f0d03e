package wait

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ErrCallEnded is returned (wrapped, through Stop) when a call awaited in
// another state has ended: it will not change again.
var ErrCallEnded = errors.New("call ended")

// ContactIs holds for a contact in state (apitype's names:
// "request-sent", "accepted", …) with nothing pending delivery.
func ContactIs(state string) func(apitype.Contact) bool {
	return func(c apitype.Contact) bool { return c.State == state && !c.Pending }
}

// Contact returns nil when cs lists account and ok holds for it, and
// otherwise an error saying what cs holds.
func Contact(cs []apitype.Contact, account string, ok func(apitype.Contact) bool) error {
	for _, c := range cs {
		if c.AccountID == account {
			if ok(c) {
				return nil
			}
			return fmt.Errorf("contact %s is %s (pending %v)", account, c.State, c.Pending)
		}
	}
	return fmt.Errorf("%s is not a contact (%d contacts)", account, len(cs))
}

// CallIs holds for a call in state ("ringing", "connected", "ended", …).
func CallIs(state string) func(apitype.Call) bool {
	return func(c apitype.Call) bool { return c.State == state }
}

// Call returns call id from cs, with a nil error when ok holds for it. A
// call that has ended without ok holding is an error made by Stop
// (wrapping ErrCallEnded): polling for it is pointless.
func Call(cs []apitype.Call, id string, ok func(apitype.Call) bool) (apitype.Call, error) {
	for _, c := range cs {
		if c.ID != id {
			continue
		}
		switch {
		case ok(c):
			return c, nil
		case c.State == "ended":
			return c, Stop(fmt.Errorf("call %s: %w (%s)", id, ErrCallEnded, c.Reason))
		}
		return c, fmt.Errorf("call %s is %s", id, c.State)
	}
	return apitype.Call{}, fmt.Errorf("call %s is not listed", id)
}

// Published returns nil once a node's status shows its presence published.
func Published(s *apitype.Status) error {
	if s.Published.IsZero() {
		return errors.New("presence not published yet")
	}
	return nil
}
