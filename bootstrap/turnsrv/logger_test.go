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
	l.Infof("info %d", 3)
	l.Warn("warn plain")
	l.Errorf("error %s", "four")

	out := lb.String()
	for _, want := range []string{"level=INFO msg=\"info 3\" scope=turn", "level=WARN msg=\"warn plain\"", "level=ERROR msg=\"error four\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"trace", "debug"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log has %q below the handler's level:\n%s", unwanted, out)
		}
	}
}
