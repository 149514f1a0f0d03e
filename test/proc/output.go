package proc

import (
	"bytes"
	"fmt"
	"sync"
)

// maxOutput bounds what a Proc keeps of its output: the first and the
// last half of it.
const maxOutput = 4 << 20

// maxLine is the longest line handed to Spec.Lines; a longer one is cut.
const maxLine = 64 << 10

// output keeps the first and the last maxOutput/2 bytes written, and
// hands each complete line to lines when set.
type output struct {
	lines func(string)

	mu      sync.Mutex // guards the following fields
	head    bytes.Buffer
	tail    []byte
	dropped int64
	partial []byte // the unfinished last line, for lines
}

func (b *output) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if b.lines != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			b.lines(string(bytes.TrimSuffix(b.partial[:i], []byte("\r"))))
			b.partial = b.partial[i+1:]
		}
		if len(b.partial) > maxLine {
			b.lines(string(b.partial))
			b.partial = nil
		}
	}
	if room := maxOutput/2 - b.head.Len(); room > 0 {
		k := min(room, len(p))
		b.head.Write(p[:k])
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - maxOutput/2; over > 0 {
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

// flush hands an unfinished last line to lines, once the program ended.
func (b *output) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lines != nil && len(b.partial) > 0 {
		b.lines(string(b.partial))
		b.partial = nil
	}
}

func (b *output) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return b.head.String() + string(b.tail)
	}
	return fmt.Sprintf("%s\n[… %d bytes dropped …]\n%s", b.head.String(), b.dropped, b.tail)
}
