package main

import (
	"fmt"
	"os"
	"time"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node"
)

type initCmd struct {
	Name                  string `help:"Name of this device, shown to your other devices; it is published in your account record, so it is public (default: device)."`
	Restore               string `placeholder:"FILE" type:"existingfile" help:"Restore the account from an archive written by 'parleyd export'; this device gets a new key and certificate."`
	ArchivePassphraseFile string `env:"PARLEY_ARCHIVE_PASSPHRASE_FILE" placeholder:"FILE" help:"With --restore: file whose first line is the archive passphrase. Else $$PARLEY_ARCHIVE_PASSPHRASE, else asked on a terminal."`
	JSON                  bool   `help:"Print the result as JSON."`

	Link      bool          `help:"Join an existing account instead: show a one-time link code (text and QR) and wait until a device of the account approves it with 'parley link approve CODE'."`
	Bootstrap []string      `short:"b" env:"PARLEY_BOOTSTRAP" sep:"," placeholder:"MULTIADDR" help:"With --link: a bootstrap server's address (repeatable), so an approving device behind another NAT reaches this one through its relay."`
	Listen    []string      `env:"PARLEY_LISTEN" sep:"," placeholder:"MULTIADDR" help:"With --link: listen address while waiting (repeatable). Default: TCP and QUIC on all IPv4 interfaces."`
	LinkTTL   time.Duration `default:"5m" min:"1s" max:"1h" help:"With --link: how long the code is valid."`
	NoQR      bool          `name:"no-qr" help:"With --link: do not draw the QR code."`
	Yes       bool          `help:"With --link: do not ask to confirm the account and SAS on this device (scripts). Compare the SAS anyway: the approving device's user confirms it there."`
	Account   string        `placeholder:"ACCOUNT-ID" help:"With --link: the account this device must join; an approving device of another account is refused (a leaked code cannot pull this device into someone else's account)."`
}

func (c *initCmd) Run(g *globals) error {
	pass, err := g.storePassphrase("Passphrase to seal this device's keys (empty for none)", true)
	if err != nil {
		return err
	}
	opts := node.AccountOptions{DeviceName: c.Name, Passphrase: pass}
	if c.Link {
		if c.Restore != "" {
			return fmt.Errorf("init: --link and --restore exclude each other")
		}
		return c.runLink(g, opts)
	}
	var id any
	if c.Restore != "" {
		archive, err := os.ReadFile(c.Restore)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		apass, err := cliutil.Passphrase{File: c.ArchivePassphraseFile, EnvVar: "PARLEY_ARCHIVE_PASSPHRASE", Prompt: "Archive passphrase"}.Read(g.ctx, g.stdin, g.stderr)
		if err != nil {
			return err
		}
		if len(apass) == 0 {
			return fmt.Errorf("restore: %w: give --archive-passphrase-file FILE or set PARLEY_ARCHIVE_PASSPHRASE", cliutil.ErrNoPassphrase)
		}
		s, err := node.RestoreAccount(g.Data, archive, apass, opts)
		if err != nil {
			return err
		}
		id = s
		if !c.JSON {
			printIdentity(g.stdout, s, "Restored account onto a new device.")
		}
	} else {
		s, err := node.InitAccount(g.Data, opts)
		if err != nil {
			return err
		}
		id = s
		if !c.JSON {
			printIdentity(g.stdout, s, "Created a new account and its first device.")
		}
	}
	if c.JSON {
		return cliutil.PrintJSON(g.stdout, id)
	}
	fmt.Fprintf(g.stdout, "\nNext: parleyd run --data %s --bootstrap BOOTSTRAP-ADDR   (the line parley-bootstrap prints, ending in /p2p/…)\n", g.Data)
	return nil
}
