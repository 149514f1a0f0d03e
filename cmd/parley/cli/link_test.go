package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// TestLinkHintOmitsSAS: after `parley link approve --no-prompt` the
// approver sees its SAS to compare, but the command it is told to run next
// must not contain it, or confirming would not need the new device's
// screen at all.
func TestLinkHintOmitsSAS(t *testing.T) {
	var out bytes.Buffer
	printLinkSession(&out, &apitype.LinkSession{
		Session: "s1", State: apitype.LinkStateConfirm, SAS: "123 456",
		DeviceID: "12D3KooWExample", DeviceName: "phone", Expires: time.Now().Add(90 * time.Second),
	}, "ABCD-EFGH")
	text := out.String()
	if !strings.Contains(text, "SAS: 123 456") {
		t.Errorf("the SAS to compare is not shown:\n%s", text)
	}
	var cmd string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "parley link approve") {
			cmd = line
		}
	}
	if cmd == "" {
		t.Fatalf("no command to run:\n%s", text)
	}
	if strings.Contains(cmd, "123") || strings.Contains(cmd, "456") {
		t.Errorf("the command to run carries the approver's own SAS: %q", cmd)
	}
	if !strings.Contains(cmd, "ABCD-EFGH") || !strings.Contains(cmd, "--sas") {
		t.Errorf("the command to run lacks the code or --sas: %q", cmd)
	}
}
