package media

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Recordings hold what the far end of a call said: they are private. A
// recording file is created mode 0600 (directories made for it 0700), never
// replaces an existing file and never follows a symbolic link at its name:
// O_CREATE|O_EXCL fails on any existing name, a dangling or planted link
// included (POSIX open(2)), so another local user cannot point a recording
// at a file of ours.
//
// A recording is written in place as packets arrive, not to a temporary
// file renamed at the end: after a crash or kill, what was received until
// then is on disk and plays (Ogg pages stand alone, each with its CRC; an
// IVF file whose header was not completed says 0 frames, which players
// ignore, and a torn last frame is dropped by readers). A recording that
// appears only when the call ends cleanly would lose the whole call.
const (
	recordFileMode = 0o600
	recordDirMode  = 0o700
	// maxRecordSuffix bounds the numbered names tried in a directory.
	maxRecordSuffix = 9999
)

// createRecording creates the file of an explicitly named recording. An
// existing name is refused with ErrExists.
func createRecording(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), recordDirMode); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, recordFileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: %s (choose another name, or a directory: recordings there get a new name)", ErrExists, path)
	}
	return f, err
}

// createRecordingIn creates a new recording file in dir named name, or, when
// that name is taken, name with -2, -3, ... before its extension: a
// directory collects recordings (auto-answered calls all record into one)
// and none replaces another.
func createRecordingIn(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, recordDirMode); err != nil {
		return nil, err
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i <= maxRecordSuffix; i++ {
		n := name
		if i > 1 {
			n = base + "-" + strconv.Itoa(i) + ext
		}
		f, err := os.OpenFile(filepath.Join(dir, n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, recordFileMode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%w: %s holds %d recordings named %s", ErrExists, dir, maxRecordSuffix, name)
}

// CheckSink returns the error ParseSink would fail with for spec without
// creating anything, as far as it can be told before the codec is known:
// a malformed rtp:// address, or a recording file that already exists. A
// call checks its record target with it before it rings anyone.
func CheckSink(spec string) error {
	switch {
	case spec == "" || spec == "count":
		return nil
	case strings.HasPrefix(spec, "rtp://"):
		addr, err := sinkRTPAddr(spec)
		if err != nil {
			return fmt.Errorf("media: sink %q: %w", spec, err)
		}
		if _, err := resolveUDP("sink", addr, UDPOptions{}); err != nil {
			return fmt.Errorf("%w (received media is forwarded in clear: only to this machine, e.g. rtp://127.0.0.1:%s)", err, portOf(addr))
		}
		return nil
	}
	if !isRecordFile(spec) {
		if ext := filepath.Ext(spec); ext != "" {
			if fi, err := os.Stat(spec); err != nil || !fi.IsDir() {
				return fmt.Errorf("media: sink %q: %w: %s is not a format Parley records (.ogg for Opus, .wav for PCMU, .ivf for video), and no directory of that name exists; give a directory to get a file per stream", spec, ErrBadSpec, ext)
			}
		}
		return nil
	}
	// The file a stream goes to takes the extension of its codec's
	// format (a PCMU stream asked for call.ogg goes to call.wav), so
	// every name the call could write is checked.
	base := strings.TrimSuffix(spec, filepath.Ext(spec))
	for _, name := range []string{spec, base + ".ogg", base + ".opus", base + ".wav", base + ".ivf"} {
		if _, err := os.Lstat(name); err == nil {
			return fmt.Errorf("media: sink %q: %w: %s (choose another name, or a directory: recordings there get a new name)", spec, ErrExists, name)
		}
	}
	return nil
}

// isRecordFile tells a file spec (.ogg, .opus, .ivf, .wav) from a directory.
func isRecordFile(spec string) bool {
	switch strings.ToLower(filepath.Ext(spec)) {
	case ".ogg", ".opus", ".ivf", ".wav":
		return true
	}
	return false
}

// portOf is the port of a HOST:PORT address ("PORT" when it has none).
func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return "PORT"
}
