package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

type eventsCmd struct {
	JSON bool `help:"Print each event as a JSON line (NDJSON)."`
}

func (c *eventsCmd) Run(g *globals) error {
	enc := json.NewEncoder(g.stdout)
	var n names
	if !c.JSON {
		n = contactNames(g.ctx, g)
	}
	return g.client().Events(g.ctx, func(ev apitype.Event) error {
		if c.JSON {
			return enc.Encode(ev)
		}
		if strings.HasPrefix(string(ev.Type), "contact.") {
			n = contactNames(g.ctx, g) // a name may have come with it
		}
		_, err := fmt.Fprintln(g.stdout, eventLine(ev, n))
		return err
	})
}

// eventLine is an event as one line of text: the local time, the type,
// the call it is about, who (a contact's name when it has one), the
// message.
func eventLine(ev apitype.Event, n names) string {
	line := fmt.Sprintf("%s %-22s", ev.Time.Local().Format(time.TimeOnly), ev.Type)
	if ev.Call != "" {
		line += " call=" + ev.Call
	}
	if ev.Account != "" {
		line += " account=" + n.of(ev.Account)
	}
	if ev.Device != "" {
		line += " device=" + ev.Device
	}
	if ev.Message != "" {
		line += fmt.Sprintf(" %q", ev.Message)
	}
	return line
}
