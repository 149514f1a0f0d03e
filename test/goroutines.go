package test

import (
	"runtime"
	"strings"
)

// GoroutinesMatching returns the stacks of all goroutines that mention any
// of markers (package paths, function names): leak checks poll it until
// the goroutines of a closed component are gone.
func GoroutinesMatching(markers ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, m := range markers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
