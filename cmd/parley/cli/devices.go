package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// devicesCmd lists and revokes the account's devices.
type devicesCmd struct {
	List   devicesListCmd   `cmd:"" default:"withargs" help:"List the account's devices: name, ID, when linked, last seen, revoked or not (the default)."`
	Revoke devicesRevokeCmd `cmd:"" help:"Revoke a device: sign a new revocation list, republish the account record and push it to your contacts. The device is no longer rung and its calls are refused."`
}

type devicesListCmd struct {
	JSON bool `help:"Print JSON."`
}

func (c *devicesListCmd) Run(g *globals) error {
	ds, err := g.client().Devices(g.ctx)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []apitype.Device{}
	}
	return g.output(c.JSON, ds, func(w io.Writer) {
		fmt.Fprintf(w, "%-16s %-52s %-16s %-16s %s\n", "NAME", "DEVICE ID", "LINKED", "LAST SEEN", "STATUS")
		for _, d := range ds {
			seen, status := when(d.LastSeen), "active"
			if d.Self {
				seen = "this device"
			}
			if d.Revoked {
				status = "revoked " + when(d.RevokedAt)
			}
			fmt.Fprintf(w, "%-16s %-52s %-16s %-16s %s\n", safe(d.Name), d.DeviceID, when(d.Linked), seen, status)
		}
	})
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

type devicesRevokeCmd struct {
	Device string `arg:"" help:"The device ID (or an unambiguous prefix of at least 6 characters) from parley devices."`
	JSON   bool   `help:"Print JSON."`
}

func (c *devicesRevokeCmd) Run(g *globals) error {
	r, err := g.client().RevokeDevice(g.ctx, c.Device)
	if err != nil {
		return err
	}
	return g.output(c.JSON, r, func(w io.Writer) {
		fmt.Fprintf(w, "Revoked %s (%s): revocation list #%d signed, the account record is being republished and pushed to your contacts.\n",
			r.Device.Name, r.Device.DeviceID, r.CRLNumber)
	})
}
