package turnsrv

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/test"
)

func TestSlogAdapter(t *testing.T) {
	lb := new(test.SyncBuffer)
	l := slogFactory{l: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))}.NewLogger("turn")

	l.Tracef("trace %d", 1)
	l.Debugf("debug %d", 2)
	l.Debug("debug plain")
	// pion/turn's per-datagram line, at its Info.
	l.Infof("No Permission or Channel exists for %v on allocation %v", "127.0.0.1:5000", "127.0.0.1:6000")
	l.Info("info plain")
	l.Warn("warn plain")
	l.Errorf("error %s", "four")

	out := lb.String()
	for _, want := range []string{"level=WARN msg=\"warn plain\" scope=turn", "level=ERROR msg=\"error four\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"trace", "debug", "No Permission", "info plain"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log has %q at the default level:\n%s", unwanted, out)
		}
	}

	// At Debug, pion's Info lines are there.
	lb = new(test.SyncBuffer)
	l = slogFactory{l: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("turn")
	l.Infof("No Permission or Channel exists for %v", "x")
	if !strings.Contains(lb.String(), "level=DEBUG msg=\"No Permission or Channel exists for x\"") {
		t.Errorf("pion's Info line at Debug: %q", lb.String())
	}
}
