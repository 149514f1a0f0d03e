package cli

import (
	"fmt"
	"io"
)

type lookupCmd struct {
	Account string `arg:"" help:"Account ID to resolve (parley1…; case, spaces and dashes do not matter), or a contact's name."`
	JSON    bool   `help:"Print JSON."`
}

func (c *lookupCmd) Run(g *globals) error {
	acct, err := accountArg(g.ctx, g, c.Account)
	if err != nil {
		return err
	}
	stop := newProgress(g).during("resolving " + acct + " through the DHT and connecting to its devices…")
	l, err := g.client().Lookup(g.ctx, acct)
	stop()
	if err != nil {
		return err
	}
	return g.output(c.JSON, l, func(w io.Writer) {
		fmt.Fprintf(w, "Account %s: %d device(s), record #%d, resolved in %.1f ms\n", l.AccountID, len(l.Devices), l.Seq, l.TookMS)
		t := newTable(w, "  DEVICE ID", "NAME", "STATE")
		for _, d := range l.Devices {
			state := "offline"
			switch {
			case d.Connected:
				state = "connected (" + d.Path + ")"
			case d.Online:
				state = "online, not connected"
			}
			if d.Error != "" && !d.Connected {
				state += ": " + reason(d.Error)
			}
			t.row("  "+d.DeviceID, safe(d.Name), state)
		}
		t.flush()
	})
}
