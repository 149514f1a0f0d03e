package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node"
)

type exportCmd struct {
	Out                   string `short:"o" required:"" placeholder:"FILE" help:"Where to write the archive (mode 0600; an existing file is not overwritten unless --force)."`
	Force                 bool   `help:"Overwrite FILE if it exists."`
	ArchivePassphraseFile string `env:"PARLEY_ARCHIVE_PASSPHRASE_FILE" placeholder:"FILE" help:"File whose first line is the passphrase for the archive. Else $$PARLEY_ARCHIVE_PASSPHRASE, else asked twice on a terminal."`
}

func (c *exportCmd) Run(g *globals) error {
	pass, err := g.storePassphrase("Store passphrase", false)
	if err != nil {
		return err
	}
	apass, err := cliutil.Passphrase{File: c.ArchivePassphraseFile, EnvVar: "PARLEY_ARCHIVE_PASSPHRASE", Prompt: "New archive passphrase", Confirm: true}.Read(g.ctx, g.stdin, g.stderr)
	if err != nil {
		return err
	}
	if len(apass) == 0 {
		return fmt.Errorf("export: %w: the archive holds your account key, so it must be encrypted; give --archive-passphrase-file FILE or set PARLEY_ARCHIVE_PASSPHRASE", cliutil.ErrNoPassphrase)
	}
	st, err := node.OpenStore(g.Data, node.AccountOptions{Passphrase: pass})
	if err != nil {
		return err
	}
	defer st.Close()
	data, err := node.ExportAccount(st, apass, node.AccountOptions{})
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(c.Out, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("export: %s exists; choose another --out or add --force", c.Out)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(g.stdout, "Wrote the encrypted account archive to %s (%d bytes).\nRestore it on a new device with: parleyd init --restore %s\n", c.Out, len(data), c.Out)
	return nil
}
