package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

type statusCmd struct {
	JSON bool `help:"Print JSON."`
}

func (c *statusCmd) Run(g *globals) error {
	s, err := g.client().Status(g.ctx)
	if err != nil {
		return err
	}
	return g.output(c.JSON, s, func(w io.Writer) {
		fmt.Fprintf(w, "Account ID:   %s\n", s.Identity.AccountID)
		fmt.Fprintf(w, "Device:       %s (%s), %d active device(s) in the account\n", s.Identity.DeviceID, safe(s.Identity.DeviceName), s.Identity.Devices)
		if s.Identity.Role != "" {
			fmt.Fprintf(w, "Role:         %s\n", s.Identity.Role)
		}
		if s.Revoked != "" {
			fmt.Fprintf(w, "!! REVOKED:   %s\n", safe(s.Revoked))
		}
		fmt.Fprintf(w, "Reachability: %s (DHT %s)\n", s.Reachability, s.DHTMode)
		up := 0
		for _, b := range s.Bootstraps {
			if b.Connected {
				up++
			}
		}
		fmt.Fprintf(w, "Bootstraps:   %d of %d connected\n", up, len(s.Bootstraps))
		for _, b := range s.Bootstraps {
			mark := "down"
			if b.Connected {
				mark = "up  "
			}
			fmt.Fprintf(w, "  %s %s\n", mark, b.Addr+"/p2p/"+b.PeerID)
		}
		pub := "not yet"
		if !s.Published.IsZero() {
			pub = when(s.Published)
		}
		fmt.Fprintf(w, "Published:    %s\nPeers:        %d\nPending:      %d contact message(s)\nAddresses:\n", pub, s.Peers, s.Pending)
		for _, a := range s.Addrs {
			fmt.Fprintf(w, "  %s\n", a)
		}
		// Only what was dropped: a node under a flood says so.
		var drops []string
		for _, k := range slices.Sorted(maps.Keys(s.Dropped)) {
			if n := s.Dropped[k]; n > 0 {
				drops = append(drops, fmt.Sprintf("%s %d", strings.ReplaceAll(k, "_", " "), n))
			}
		}
		if s.SignallingDropped > 0 {
			drops = append(drops, fmt.Sprintf("call signalling %d", s.SignallingDropped))
		}
		if len(drops) > 0 {
			fmt.Fprintf(w, "Dropped:      %s (bounds against floods, docs/threat-model.md)\n", strings.Join(drops, ", "))
		}
		if len(s.Bootstraps) > 0 && up == 0 {
			fmt.Fprintln(w, "\nNo bootstrap is connected: check the --bootstrap addresses and that the servers are up (parley-bootstrap prints its addresses).")
		}
	})
}
