package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// TestMediaPathsAbsolute: file paths in --audio, --video, --record and
// calls.auto_record reach the daemon absolute, resolved against the
// shell's working directory, not the daemon's.
func TestMediaPathsAbsolute(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "pc") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	ln, err := net.Listen("unix", filepath.Join(sockDir, apitype.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	bodies := map[string]map[string]any{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, apitype.Prefix)
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			mu.Lock()
			bodies[path] = m
			mu.Unlock()
		}
		switch path {
		case "settings":
			_ = json.NewEncoder(w).Encode(map[string]string{})
		case "settings/set":
			_ = json.NewEncoder(w).Encode(map[string]bool{"ok": true})
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "x"})
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	cwd := t.TempDir()
	t.Chdir(cwd)
	run := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := Run(context.Background(), append([]string{"--data", sockDir}, args...), nil, &out, &out); code != 0 {
			t.Fatalf("parley %v: exit %d: %s", args, code, out.String())
		}
	}
	run("call", "parley1x", "--audio", "loop:clips/a.ogg", "--video", "v.ivf", "--record", "rec")
	run("answer", "c1", "--audio", "tone:700", "--record", "rtp://127.0.0.1:5004")
	run("conference", "start", "--audio", "none", "--record", "conf")
	run("set", "calls.auto_record", "auto")
	want := map[string]map[string]string{
		"calls/start":       {"audio": "loop:" + filepath.Join(cwd, "clips/a.ogg"), "video": filepath.Join(cwd, "v.ivf"), "record": filepath.Join(cwd, "rec")},
		"calls/answer":      {"audio": "tone:700", "record": "rtp://127.0.0.1:5004"},
		"conferences/start": {"audio": "none", "record": filepath.Join(cwd, "conf")},
		"settings/set":      {"value": filepath.Join(cwd, "auto")},
	}
	mu.Lock()
	defer mu.Unlock()
	for path, fields := range want {
		got, ok := bodies[path]
		if !ok {
			t.Errorf("no request to %s (got %v)", path, bodies)
			continue
		}
		for k, v := range fields {
			if got[k] != v {
				t.Errorf("%s %s = %v, want %q", path, k, got[k], v)
			}
		}
	}
}
