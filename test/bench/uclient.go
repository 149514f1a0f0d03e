package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// uclientCount is one progress line of coturn's turnutils_uclient: the
// messages its clients have sent and received so far, and when the line
// was read.
type uclientCount struct {
	at         time.Time
	sent, recv uint64
}

// parseUclientLine reads the running totals from a uclient progress line,
//
//	12: : start_mclient: msz=50, tot_send_msgs=21530, tot_recv_msgs=21510, tot_send_bytes ~ 3444800, ...
//
// and its final summary line ("start_mclient: tot_send_msgs=N,
// tot_recv_msgs=M"). Other lines report ok == false.
func parseUclientLine(line string) (sent, recv uint64, ok bool) {
	if !strings.Contains(line, "start_mclient:") {
		return 0, 0, false
	}
	s, ok1 := uclientField(line, "tot_send_msgs=")
	r, ok2 := uclientField(line, "tot_recv_msgs=")
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return s, r, true
}

// uclientField returns the decimal number after key in line.
func uclientField(line, key string) (uint64, bool) {
	i := strings.Index(line, key)
	if i < 0 {
		return 0, false
	}
	v := line[i+len(key):]
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		v = v[:end]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// uclient is one running turnutils_uclient whose progress lines are
// collected as they arrive.
type uclient struct {
	*proc.Proc

	mu     sync.Mutex // guards counts
	counts []uclientCount
}

// startUclient runs turnutils_uclient with args; its output is read line
// by line.
func startUclient(env *benchEnv, bin string, args ...string) (*uclient, error) {
	u := &uclient{}
	p, err := env.procs.Start(proc.Spec{Name: "turnutils_uclient", Path: bin, Args: args, Lines: u.add})
	if err != nil {
		return nil, err
	}
	u.Proc = p
	return u, nil
}

func (u *uclient) add(line string) {
	at := time.Now()
	if s, r, ok := parseUclientLine(line); ok {
		u.mu.Lock()
		u.counts = append(u.counts, uclientCount{at: at, sent: s, recv: r})
		u.mu.Unlock()
	}
}

// snapshot returns the counts read so far.
func (u *uclient) snapshot() []uclientCount {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uclientCount(nil), u.counts...)
}

// countAt interpolates the running totals at time t linearly between the
// progress lines around it; before the first line it is zero, after the
// last it is the last. ok is false when no line has been read after t
// (the value would be a guess).
func countAt(cs []uclientCount, t time.Time) (sent, recv float64, ok bool) {
	if len(cs) == 0 || cs[len(cs)-1].at.Before(t) {
		return 0, 0, false
	}
	prev := uclientCount{at: cs[0].at.Add(-time.Second)} // zero a second before the first line
	for _, c := range cs {
		if !c.at.Before(t) {
			span := c.at.Sub(prev.at).Seconds()
			f := 1.0
			if span > 0 {
				f = t.Sub(prev.at).Seconds() / span
			}
			f = max(0, min(1, f))
			sent = float64(prev.sent) + f*(float64(c.sent)-float64(prev.sent))
			recv = float64(prev.recv) + f*(float64(c.recv)-float64(prev.recv))
			return sent, recv, true
		}
		prev = c
	}
	return 0, 0, false
}

// waitCounts waits until every uclient has printed a line at or after t.
func waitCounts(ctx context.Context, timeout time.Duration, t time.Time, us []*uclient) error {
	return wait.For(ctx, timeout, func() error {
		for _, u := range us {
			cs := u.snapshot()
			if len(cs) > 0 && !cs[len(cs)-1].at.Before(t) {
				continue
			}
			if u.Exited() {
				return wait.Stop(u.Failure("ended early"))
			}
			return fmt.Errorf("no uclient progress after %s", t.Format(time.TimeOnly))
		}
		return nil
	})
}

// totalAt sums countAt over several uclients.
func totalAt(us []*uclient, t time.Time) (sent, recv float64, ok bool) {
	for _, u := range us {
		s, r, ok := countAt(u.snapshot(), t)
		if !ok {
			return 0, 0, false
		}
		sent += s
		recv += r
	}
	return sent, recv, true
}
