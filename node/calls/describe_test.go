package calls

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/node/callproto"
)

// TestDescribeEndReasons: the peer's reason is said once and never cut
// inside a word (a callee once read "cancel: led" for "cancelled").
func TestDescribeEndReasons(t *testing.T) {
	for _, tc := range []struct {
		typ    callproto.ControlType
		reason string
		want   string
	}{
		{callproto.ControlCancel, "cancelled", "cancelled"},
		{callproto.ControlCancel, "", "cancel"},
		{callproto.ControlCancel, "cancel", "cancel"},
		{callproto.ControlCancel, "cancel: the caller gave up", "cancel: the caller gave up"},
		{callproto.ControlCancel, "the caller gave up", "cancel: the caller gave up"},
		{callproto.ControlHangup, "hangupish", "hangupish"},
		{callproto.ControlAnsweredElsewhere, "answered on another device", "answered elsewhere"},
	} {
		if got := describe(&callproto.Control{Type: tc.typ, Reason: tc.reason}); got != tc.want {
			t.Errorf("describe(%s, %q) = %q, want %q", tc.typ, tc.reason, got, tc.want)
		}
	}
	if got := "declined" + reasonSuffix("declined", "declined by the user"); got != "declined: declined by the user" {
		t.Errorf("declined reason = %q", got)
	}
	if got := "busy" + reasonSuffix("busy", "busy: in another call"); got != "busy: in another call" {
		t.Errorf("busy reason = %q", got)
	}
}

// TestCheckRecordWritable: a record target in a directory the daemon
// cannot create or write in is refused before the call (a new user's
// `--record /proc/nope/dir` was accepted and recorded nothing); a new
// directory is created.
func TestCheckRecordWritable(t *testing.T) {
	for _, spec := range []string{"/proc/parley-nope/dir", "/proc/parley-nope/a.wav"} {
		if err := checkRecord(spec); err == nil {
			t.Errorf("checkRecord(%q) = nil, want a refusal", spec)
		}
	}
	dir := filepath.Join(t.TempDir(), "new", "rec")
	if err := checkRecord(dir); err != nil {
		t.Fatalf("checkRecord(%q): %v", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the record directory was not made: %v", err)
	}
	if err := checkRecord(filepath.Join(dir, "call.wav")); err != nil {
		t.Fatalf("a file in a writable directory: %v", err)
	}
}
