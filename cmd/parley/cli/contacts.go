package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

type contactsCmd struct {
	JSON bool `help:"Print JSON."`
}

func (c *contactsCmd) Run(g *globals) error {
	cs, err := g.client().Contacts(g.ctx)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []apitype.Contact{}
	}
	return g.output(c.JSON, cs, func(w io.Writer) {
		if len(cs) == 0 {
			fmt.Fprintln(w, "No contacts yet. Add one with: parley contact add ACCOUNT-ID")
			return
		}
		t := newTable(w, "STATE", "NAME", "ACCOUNT ID", "SINCE")
		for _, ct := range cs {
			state := ct.State
			if ct.Pending {
				state += " (pending delivery)"
			}
			name := safe(ct.Name)
			if name == "" {
				name = "-"
			}
			t.row(state, name, ct.AccountID, when(ct.Updated))
			if ct.Message != "" && ct.State == "request-received" {
				t.row("", "  \""+safe(ct.Message)+"\"") // the last cell: it widens no column
			}
		}
		t.flush()
	})
}

// contactCmd groups the operations on one contact.
type contactCmd struct {
	Add     contactAddCmd    `cmd:"" help:"Send a contact request to an account (delivered when it is online; kept and retried until then)."`
	Accept  contactOpCmd     `cmd:"" help:"Accept a contact request you received."`
	Decline contactOpCmd     `cmd:"" help:"Decline a contact request you received."`
	Block   contactOpCmd     `cmd:"" help:"Block an account: its requests are dropped."`
	Remove  contactOpCmd     `cmd:"" help:"Remove an account from your contacts."`
	Rename  contactRenameCmd `cmd:"" help:"Change the name you gave a contact (synced to your other devices)."`
}

type contactRenameCmd struct {
	Account string `arg:"" help:"Account ID, or the contact's current name."`
	Name    string `arg:"" help:"New name (at most 128 bytes)."`
	JSON    bool   `help:"Print JSON."`
}

func (c *contactRenameCmd) Run(g *globals) error {
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("the new name is empty: give one, as in parley contact rename %s \"Bob\"", c.Account)
	}
	acct, err := accountArg(g.ctx, g, c.Account)
	if err != nil {
		return err
	}
	ct, err := g.client().RenameContact(g.ctx, acct, c.Name)
	if err != nil {
		return err
	}
	if ct == nil {
		return printContact(g, c.JSON, ct, "Renamed")
	}
	return g.output(c.JSON, ct, func(w io.Writer) {
		fmt.Fprintf(w, "Renamed %s to %q.\n", ct.AccountID, safe(ct.Name))
	})
}

type contactAddCmd struct {
	Account string `arg:"" help:"Account ID to add."`
	Name    string `short:"n" help:"Your name for this contact."`
	Message string `short:"m" help:"A short message shown with the request."`
	JSON    bool   `help:"Print JSON."`
}

func (c *contactAddCmd) Run(g *globals) error {
	ct, err := g.client().ContactOp(g.ctx, "add", apitype.ContactRequest{AccountID: c.Account, Name: c.Name, Message: c.Message})
	if err != nil {
		return err
	}
	return printContact(g, c.JSON, ct, "Contact request queued")
}

type contactOpCmd struct {
	Account string `arg:"" help:"Account ID, or the contact's name."`
	JSON    bool   `help:"Print JSON."`
}

func (c *contactOpCmd) Run(g *globals, kctx *kong.Context) error {
	op := kctx.Selected().Name // accept, decline, block or remove
	acct, err := accountArg(g.ctx, g, c.Account)
	if err != nil {
		return err
	}
	ct, err := g.client().ContactOp(g.ctx, op, apitype.ContactRequest{AccountID: acct})
	if err != nil {
		return err
	}
	return printContact(g, c.JSON, ct, map[string]string{
		"accept": "Accepted", "decline": "Declined", "block": "Blocked", "remove": "Removed",
	}[op])
}

func printContact(g *globals, asJSON bool, ct *apitype.Contact, verb string) error {
	if ct == nil {
		if asJSON {
			return g.output(true, map[string]bool{"ok": true}, nil)
		}
		fmt.Fprintln(g.stdout, verb+".")
		return nil
	}
	return g.output(asJSON, ct, func(w io.Writer) {
		note := ""
		if ct.Pending {
			note = "; it will be delivered when the account is online"
		}
		who := ct.AccountID
		if ct.Name != "" {
			who = fmt.Sprintf("%s (%s)", safe(ct.Name), ct.AccountID)
		}
		fmt.Fprintf(w, "%s: %s is %s%s.\n", verb, who, ct.State, note)
	})
}
