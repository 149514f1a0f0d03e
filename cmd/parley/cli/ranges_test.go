package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagRanges: numbers and durations outside their range are refused
// before any daemon is asked (there is none here), with exit code 2.
func TestFlagRanges(t *testing.T) {
	data := t.TempDir() // no daemon: a request would fail with exit 3
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"negative --wait", []string{"call", "parley1x", "--wait=-1s"}, "parley: --wait: -1s is out of range (allowed: 0s to 10m)"},
		{"--wait too long", []string{"call", "parley1x", "--wait", "1h"}, "1h is out of range (allowed: 0s to 10m)"},
		{"conference of one", []string{"conference", "start", "--max", "1"}, "parley: --max: 1 is out of range (allowed: 2 to 32)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), append([]string{"--data", data}, tt.args...), nil, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, errb.String(), tt.want)
			}
		})
	}
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"call", "--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "0s to 10m") {
		t.Errorf("call --help does not show --wait's range (exit %d):\n%s", code, out.String())
	}
}
