package cli

import (
	"path/filepath"
	"strings"
)

// localSpec makes the file path in a media source or sink spec (--audio,
// --video, --record, calls.auto_record) absolute. The daemon opens the
// file, and its working directory is not the shell's: "--record rec"
// would otherwise land wherever parleyd was started (/ under systemd).
// Specs without a file (tone, tone:HZ, none, count, rtp://…) are left
// alone.
func localSpec(spec string) string {
	switch {
	case spec == "" || spec == "none" || spec == "count" || spec == "tone" ||
		strings.HasPrefix(spec, "tone:") || strings.HasPrefix(spec, "rtp://"):
		return spec
	case strings.HasPrefix(spec, "loop:"):
		return "loop:" + absPath(strings.TrimPrefix(spec, "loop:"))
	}
	return absPath(spec)
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
