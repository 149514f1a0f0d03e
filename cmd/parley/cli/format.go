package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/internal/errtext"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// now is the clock the relative times are measured against (tests set it).
var now = time.Now

// when is the one way parley prints a time: relative while it is recent
// ("just now", "5 min ago", "3 h ago"), then the local date and time.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now().Sub(t)
	switch {
	case d < -time.Minute:
		return t.Local().Format("2006-01-02 15:04")
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return t.Local().Format("2006-01-02 15:04")
}

// names maps account IDs to the names this device gave its contacts. It is
// best effort: without it, IDs are shown.
type names map[string]string

// contactNames fetches the contacts' names.
func contactNames(ctx context.Context, g *globals) names {
	cs, err := g.client().Contacts(ctx)
	if err != nil {
		return nil
	}
	n := names{}
	for _, c := range cs {
		if c.Name != "" {
			n[c.AccountID] = c.Name
		}
	}
	return n
}

// of is how an account is shown: the contact's name when it has one, else
// its ID.
func (n names) of(account string) string {
	if name := n[account]; name != "" {
		return safe(name)
	}
	return account
}

// table writes rows under a header, in aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }
func (t *table) flush()             { _ = t.tw.Flush() }

// reason is a call's end reason or recording error, which may come from
// the peer: one safe line.
func reason(s string) string { return safe(errtext.Clean(s)) }

// activeCall reports whether a call has not ended.
func activeCall(c apitype.Call) bool { return c.State != "ended" }

// accountArg turns a command's account argument into what the daemon
// takes: an account ID as given (the daemon parses it and says what is
// wrong with it), or the name of exactly one of your contacts, in any case.
// Two contacts of one name (a stranger's request may carry any name) are
// refused: the ID says which.
func accountArg(ctx context.Context, g *globals, arg string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(arg))
	if strings.HasPrefix(t, "parley1") || strings.HasPrefix(t, "12d3koo") {
		return arg, nil // an account ID, or a device ID the daemon names as such
	}
	cs, err := g.client().Contacts(ctx)
	if err != nil {
		return "", err
	}
	var hits []string
	for _, c := range cs {
		if c.Name != "" && strings.EqualFold(strings.TrimSpace(c.Name), strings.TrimSpace(arg)) {
			hits = append(hits, c.AccountID)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return "", fmt.Errorf("%q is not an account ID (parley1…) nor the name of one of your contacts (parley contacts lists them)", safe(arg))
	}
	return "", fmt.Errorf("%d contacts are named %q: give the account ID (parley contacts lists them)", len(hits), safe(arg))
}
