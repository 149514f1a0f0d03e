package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
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
	NoPrompt bool   `help:"Open the session, print the SAS and return; confirm within 90 s with the same command and --sas (a wrong SAS can be retried twice)."`
	Admin    bool   `help:"Make the new device an admin: it receives the account key and can link, promote and revoke devices. Default: a member device, which cannot. If an admin device is stolen, its account key can undo revocations; give it only to devices you keep safe."`
	JSON     bool   `help:"Print JSON."`
}

func (c *linkApproveCmd) Run(g *globals) error {
	if c.SAS == "" && !c.NoPrompt && !cliutil.IsTerminal(g.stdin) {
		return fmt.Errorf("standard input is not a terminal, so the SAS cannot be asked; use --no-prompt to open the session, then --sas DIGITS to confirm")
	}
	if c.Admin {
		fmt.Fprintln(g.stderr, "Warning: --admin gives the new device the account key. A stolen admin device can sign the account's records and revocation lists, and so undo its own revocation. Give it only to a device you keep as safe as this one.")
	}
	cl := g.client()
	s, err := cl.ApproveLink(g.ctx, apitype.LinkApprove{Code: c.Code, SAS: c.SAS, Admin: c.Admin})
	if err != nil {
		return err
	}
	if s.State == apitype.LinkStateLinked || c.NoPrompt {
		return g.output(c.JSON, s, func(w io.Writer) { printLinkSession(w, s, c.Code) })
	}
	fmt.Fprintf(g.stderr, "Connected to the new device %s (%s).\nIt must show the SAS:  %s\n", safe(s.DeviceName), s.DeviceID, s.SAS)
	fmt.Fprint(g.stderr, "Type the SAS the new device shows (or y if it is the same, n to cancel): ")
	line, err := cliutil.ReadLine(g.ctx, g.stdin)
	if err != nil {
		// Interrupted: close the session, so the new device stops
		// waiting for an answer.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = cl.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, Cancel: true})
		return err
	}
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
		fmt.Fprintf(w, "Linked %s (%s) to your account as %s device: it has its certificate, your contacts and settings.\n", safe(s.DeviceName), s.DeviceID, roleArticle(s.Role))
		fmt.Fprintln(w, "Calls to your account now ring it too; `parley devices` lists the account's devices.")
		return
	}
	// The command to run carries a placeholder, not this side's SAS: the
	// user has to read the digits off the new device, which is the check.
	fmt.Fprintf(w, "SAS: %s\nCheck that the new device %s (%s) shows the same SAS. If it does, confirm before %s\nwith the digits the new device shows in place of DIGITS:\n  parley link approve %s --sas DIGITS\nIf it shows other digits, do not confirm: someone else may be answering the code.\n",
		s.SAS, s.DeviceName, s.DeviceID, s.Expires.Local().Format("15:04:05"), code)
}

// roleArticle is "an admin" or "a member".
func roleArticle(role string) string {
	if role == "admin" {
		return "an admin"
	}
	return "a member"
}
