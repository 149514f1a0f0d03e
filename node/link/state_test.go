package link

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node/service"
)

// validLinkMsgs holds one well-formed message of each type.
var validLinkMsgs = map[string]*linkMsg{
	linkHello:    {Type: linkHello, AccountCert: []byte{1}, DeviceCert: []byte{1}, Commit: make([]byte, 32), Proof: make([]byte, 32)},
	linkDevice:   {Type: linkDevice, Name: "phone", Nonce: make([]byte, linkNonceLen)},
	linkReveal:   {Type: linkReveal, Nonce: make([]byte, linkNonceLen)},
	linkTransfer: {Type: linkTransfer, DeviceCert: []byte{1}, Archive: []byte{1}},
	linkDone:     {Type: linkDone},
	linkError:    {Type: linkError, Code: linkCodeSAS, Reason: "no"},
}

// TestLinkPhaseWalk feeds every message type to a session in every phase
// and checks that exactly the table's message moves it on, that an error
// message ends it with the sender's reason, and that anything else ends it
// as invalid without moving.
func TestLinkPhaseWalk(t *testing.T) {
	for _, p := range phases {
		for _, typ := range linkMsgTypes {
			t.Run(string(p)+"/"+typ, func(t *testing.T) {
				b, err := encodeLinkMsg(validLinkMsgs[typ])
				if err != nil {
					t.Fatal(err)
				}
				c := &linkConn{r: bufio.NewReader(bytes.NewReader(b)), phase: p}
				m, err := c.expect()
				st, reads := linkSteps[p]
				switch {
				case !reads:
					if err == nil || c.phase != p {
						t.Fatalf("phase %q read a %s message", p, typ)
					}
				case typ == st.want:
					if err != nil || m.Type != typ || c.phase != st.next {
						t.Fatalf("err %v, phase %q; want %q", err, c.phase, st.next)
					}
				case typ == linkError:
					if !errors.Is(err, ErrLinkSAS) || c.phase != p {
						t.Fatalf("err %v, want the sender's reason (ErrLinkSAS)", err)
					}
				default:
					if !errors.Is(err, service.ErrInvalidInput) || c.phase != p {
						t.Fatalf("err %v, phase %q; want invalid and no move", err, c.phase)
					}
				}
			})
		}
	}
	c := &linkConn{phase: phaseApproverAwaitDevice}
	if c.userConfirmed() == nil {
		t.Fatal("a confirmation before the SAS was shown moved the session")
	}
}

// TestLinkTableDocumented checks that docs/protocol.md shows the table the
// code runs.
func TestLinkTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := linkTableMarkdown(); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/protocol.md does not hold the link session table; paste this:\n%s", want)
	}
}
