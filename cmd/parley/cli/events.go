package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

type eventsCmd struct {
	JSON bool `help:"Print each event as a JSON line (NDJSON)."`
}

func (c *eventsCmd) Run(g *globals) error {
	enc := json.NewEncoder(g.stdout)
	return g.client().Events(g.ctx, func(ev apitype.Event) error {
		if c.JSON {
			return enc.Encode(ev)
		}
		line := fmt.Sprintf("%s %-22s", ev.Time.Local().Format(time.TimeOnly), ev.Type)
		if ev.Account != "" {
			line += " account=" + ev.Account
		}
		if ev.Device != "" {
			line += " device=" + ev.Device
		}
		if ev.Message != "" {
			line += fmt.Sprintf(" %q", ev.Message)
		}
		_, err := fmt.Fprintln(g.stdout, line)
		return err
	})
}
