package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// devicesCmd lists and revokes the account's devices.
type devicesCmd struct {
	List    devicesListCmd    `cmd:"" default:"withargs" help:"List the account's devices: name, ID, when linked, last seen, revoked or not (the default)."`
	Revoke  devicesRevokeCmd  `cmd:"" help:"Revoke a device: sign a new revocation list, republish the account record and push it to your contacts. The device is no longer rung and its calls are refused. Admin devices only."`
	Promote devicesPromoteCmd `cmd:"" help:"Make a member device an admin: send it the account key over the devices' authenticated channel (it must be online). Admin devices only."`
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
		t := newTable(w, "NAME", "DEVICE ID", "ROLE", "LINKED", "LAST SEEN", "STATUS")
		for _, d := range ds {
			seen, status := when(d.LastSeen), "active"
			if d.Self {
				seen = "this device"
			}
			if d.Revoked {
				status = "revoked " + when(d.RevokedAt)
			}
			role := d.Role
			if role == "" {
				role = "-"
			}
			t.row(safe(d.Name), d.DeviceID, role, when(d.Linked), seen, status)
		}
		t.flush()
	})
}

type devicesRevokeCmd struct {
	Device string `arg:"" help:"The device: its name, its ID, or any prefix of its ID that no other device shares (from parley devices)."`
	Yes    bool   `help:"Do not ask for confirmation (scripts)."`
	JSON   bool   `help:"Print JSON."`
}

func (c *devicesRevokeCmd) Run(g *globals) error {
	d, err := findDevice(g, c.Device)
	if err != nil {
		return err
	}
	switch {
	case d.Self:
		return fmt.Errorf("%s (%s) is this device: revoke it from another admin device of the account", safe(d.Name), d.DeviceID)
	case d.Revoked:
		return fmt.Errorf("%s (%s) is revoked already (%s)", safe(d.Name), d.DeviceID, when(d.RevokedAt))
	}
	if !c.Yes {
		if !cliutil.IsTerminal(g.stdin) {
			return fmt.Errorf("standard input is not a terminal, so the revocation of %s (%s) cannot be confirmed; pass --yes", safe(d.Name), d.DeviceID)
		}
		fmt.Fprintf(g.stderr, "Revoke %s (%s, %s, last seen %s)? It will no longer ring or act for the account; this cannot be undone. [y/N] ",
			safe(d.Name), d.DeviceID, d.Role, when(d.LastSeen))
		line, err := cliutil.ReadLine(g.ctx, g.stdin)
		if err != nil {
			return err
		}
		if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
			return fmt.Errorf("not revoked")
		}
	}
	r, err := g.client().RevokeDevice(g.ctx, d.DeviceID)
	if err != nil {
		return err
	}
	return g.output(c.JSON, r, func(w io.Writer) {
		fmt.Fprintf(w, "Revoked %s (%s): revocation list #%d signed, the account record is being republished and pushed to your contacts.\n",
			safe(r.Device.Name), r.Device.DeviceID, r.CRLNumber)
	})
}

// findDevice resolves what the user typed to one device of the account:
// its exact ID, its name (case ignored), or a prefix of its ID that no
// other device's ID has.
func findDevice(g *globals, s string) (apitype.Device, error) {
	ds, err := g.client().Devices(g.ctx)
	if err != nil {
		return apitype.Device{}, err
	}
	var byName, byPrefix []apitype.Device
	for _, d := range ds {
		if d.DeviceID == s {
			return d, nil
		}
		if strings.EqualFold(d.Name, s) {
			byName = append(byName, d)
		}
		if s != "" && strings.HasPrefix(d.DeviceID, s) {
			byPrefix = append(byPrefix, d)
		}
	}
	list := func(ds []apitype.Device) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s (%s)", safe(d.Name), d.DeviceID))
		}
		return strings.Join(out, ", ")
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return apitype.Device{}, fmt.Errorf("%d devices are named %q, give the ID of one: %s", len(byName), safe(s), list(byName))
	case len(byPrefix) == 1:
		return byPrefix[0], nil
	case len(byPrefix) > 1:
		return apitype.Device{}, fmt.Errorf("%q starts %d device IDs, give more of it: %s", safe(s), len(byPrefix), list(byPrefix))
	}
	return apitype.Device{}, fmt.Errorf("no device of this account is named %q or has an ID starting so; see parley devices", safe(s))
}

type devicesPromoteCmd struct {
	Device string `arg:"" help:"The member device: its name, its ID, or any prefix of its ID no other device has (parley devices)."`
	Yes    bool   `help:"Do not ask for confirmation."`
	JSON   bool   `help:"Print JSON."`
}

func (c *devicesPromoteCmd) Run(g *globals) error {
	// Resolve the name or prefix as revoke does, and say what will be
	// refused before asking anything.
	target, err := findDevice(g, c.Device)
	if err != nil {
		return err
	}
	c.Device = target.DeviceID
	if err := checkPromote(g, c.Device); err != nil {
		return err
	}
	if !c.Yes {
		if !cliutil.IsTerminal(g.stdin) {
			return fmt.Errorf("standard input is not a terminal, so the promotion cannot be confirmed; pass --yes")
		}
		fmt.Fprintf(g.stderr, "Give %s (%s) the account key? An admin device can link, promote and revoke devices; if it is stolen, its key can undo its own revocation. [y/N] ", safe(target.Name), c.Device)
		line, err := cliutil.ReadLine(g.ctx, g.stdin)
		if err != nil {
			return err
		}
		if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
			return fmt.Errorf("not promoted")
		}
	}
	d, err := g.client().PromoteDevice(g.ctx, c.Device)
	if err != nil {
		return err
	}
	return g.output(c.JSON, d, func(w io.Writer) {
		fmt.Fprintf(w, "Promoted %s (%s): it holds the account key now and is listed as an admin in the account record.\n", safe(d.Name), d.DeviceID)
	})
}

// checkPromote refuses, before the confirmation, a promotion the daemon
// would refuse: asked on a member device, of a revoked device, or of an
// admin. An ID the list does not resolve is left to the daemon to explain.
func checkPromote(g *globals, target string) error {
	devs, err := g.client().Devices(g.ctx)
	if err != nil {
		return err
	}
	var admins []string
	self := apitype.Device{}
	for _, d := range devs {
		if d.Self {
			self = d
		}
		if d.Role == "admin" && !d.Revoked {
			admins = append(admins, fmt.Sprintf("%s (%s)", safe(d.Name), d.DeviceID))
		}
	}
	switch {
	case self.Revoked:
		return fmt.Errorf("this device has been revoked: it cannot promote devices")
	case self.Role != "admin":
		return fmt.Errorf("this device is a member: only an admin device can promote one; admin devices: %s", strings.Join(admins, ", "))
	}
	for _, d := range devs {
		if d.DeviceID != target && !(len(target) >= 6 && strings.HasPrefix(d.DeviceID, target)) {
			continue
		}
		switch {
		case d.Revoked:
			return fmt.Errorf("device %s (%s) is revoked: a revoked device cannot be promoted", safe(d.Name), d.DeviceID)
		case d.Role == "admin":
			return fmt.Errorf("device %s (%s) is an admin already", safe(d.Name), d.DeviceID)
		}
	}
	return nil
}
