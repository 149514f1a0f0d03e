package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// linkCmd groups the approving device's side of linking a new device. The
// new device runs `parleyd init --link`, which shows the code.
type linkCmd struct {
	Approve linkApproveCmd `cmd:"" help:"Approve a new device of your account with the code it shows (parleyd init --link): both devices show a SAS; once you confirm it here, the new device gets its certificate, your contacts and settings."`
}

type linkApproveCmd struct {
	Code     string `arg:"" help:"The link code the new device shows."`
	SAS      string `placeholder:"DIGITS" help:"Confirm with the SAS the new device shows instead of being asked (scripts; run once with --no-prompt first to open the session)."`
	NoPrompt bool   `help:"Open the session, print the SAS and return; confirm within 90 s with the same command and --sas."`
	JSON     bool   `help:"Print JSON."`
}

func (c *linkApproveCmd) Run(g *globals) error {
	cl := g.client()
	s, err := cl.ApproveLink(g.ctx, apitype.LinkApprove{Code: c.Code, SAS: c.SAS})
	if err != nil {
		return err
	}
	if s.State == apitype.LinkStateLinked || c.NoPrompt {
		return g.output(c.JSON, s, func(w io.Writer) { printLinkSession(w, s, c.Code) })
	}
	fmt.Fprintf(g.stderr, "Connected to the new device %s (%s).\nIt must show the SAS:  %s\n", safe(s.DeviceName), s.DeviceID, s.SAS)
	fmt.Fprint(g.stderr, "Type the SAS the new device shows (or y if it is the same, n to cancel): ")
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	req := apitype.LinkConfirm{Session: s.Session}
	switch ans := strings.ToLower(strings.TrimSpace(line)); ans {
	case "y", "yes":
		req.SAS = s.SAS
	case "", "n", "no":
		req.Cancel = true
	default:
		req.SAS = ans
	}
	s, err = cl.ConfirmLink(g.ctx, req)
	if err != nil {
		return err
	}
	return g.output(c.JSON, s, func(w io.Writer) { printLinkSession(w, s, c.Code) })
}

func printLinkSession(w io.Writer, s *apitype.LinkSession, code string) {
	if s.State == apitype.LinkStateLinked {
		fmt.Fprintf(w, "Linked %s (%s) to your account: it has its certificate, your contacts and settings.\n", safe(s.DeviceName), s.DeviceID)
		fmt.Fprintln(w, "Calls to your account now ring it too; `parley devices` lists the account's devices.")
		return
	}
	// The command to run carries a placeholder, not this side's SAS: the
	// user has to read the digits off the new device, which is the check.
	fmt.Fprintf(w, "SAS: %s\nCheck that the new device %s (%s) shows the same SAS. If it does, confirm before %s\nwith the digits the new device shows in place of DIGITS:\n  parley link approve %s --sas DIGITS\nIf it shows other digits, do not confirm: someone else may be answering the code.\n",
		s.SAS, s.DeviceName, s.DeviceID, s.Expires.Local().Format("15:04:05"), code)
}
