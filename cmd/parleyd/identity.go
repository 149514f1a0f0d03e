package main

import (
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

type identityCmd struct {
	JSON bool `help:"Print the identity as JSON."`
}

func (c *identityCmd) Run(g *globals) error {
	st, err := node.OpenStore(g.Data, node.AccountOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := node.Summary(st, g.Data)
	if err != nil {
		return fmt.Errorf("%w (create one with: parleyd init --data %s)", err, g.Data)
	}
	if c.JSON {
		return cliutil.PrintJSON(g.stdout, s)
	}
	printIdentity(g.stdout, s, "")
	return nil
}

func printIdentity(w io.Writer, s *apitype.Identity, headline string) {
	if headline != "" {
		fmt.Fprintln(w, headline)
	}
	sealed := "no (file mode 0600)"
	if s.KeysSealed {
		sealed = "yes (passphrase)"
	}
	fmt.Fprintf(w, "Account ID:   %s\n", s.AccountID)
	fmt.Fprintf(w, "Device ID:    %s\n", s.DeviceID)
	fmt.Fprintf(w, "Device name:  %s\n", s.DeviceName)
	fmt.Fprintf(w, "Devices:      %d   CRL number: %d   keys sealed: %s\n", s.Devices, s.CRLNumber, sealed)
	fmt.Fprintf(w, "Account cert: serial %s, valid %s to %s\n              %s\n",
		s.AccountCert.Serial, day(s.AccountCert.NotBefore), day(s.AccountCert.NotAfter), s.AccountCert.File)
	fmt.Fprintf(w, "Device cert:  serial %s, valid %s to %s\n              %s\n",
		s.DeviceCert.Serial, day(s.DeviceCert.NotBefore), day(s.DeviceCert.NotAfter), s.DeviceCert.File)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
