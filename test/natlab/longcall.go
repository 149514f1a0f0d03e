package natlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// LongCallCasts are the calls of a long-call run: a relayed one
// (UDP-blocked caller, symmetric callee: TURN, and signalling over the
// bootstrap's circuit relay) and a direct one (cone to cone).
var LongCallCasts = Cast{Callers: []Kind{UDPBlocked, Cone}, Callees: []Kind{Symmetric, Cone}}

// LongCallResult is one call of a long-call run.
type LongCallResult struct {
	Caller, Callee Kind
	ID             string
	// Duration is how long media flowed.
	Duration time.Duration
	// Path is the caller's path at the end.
	Path apitype.CallPath
	// Received is the packets each end received (caller, callee), Lost
	// those it counted as lost, and Gaps the silences of 100 ms or more.
	Received [2]uint64
	Lost     [2]int64
	Gaps     [2][]float64
	// Restarts is how many ICE restarts each end counted.
	Restarts [2]int
	// RSSStart and RSSEnd are the resident set sizes of the two daemons
	// (caller, callee) in bytes, once the call was up and at its end.
	RSSStart, RSSEnd [2]uint64
	// Err says how the call failed, if it did ("" when it ran its time).
	Err string
}

// RunLongCalls places one call per caller/callee pair of the session's
// cast at once (pairs[i] = caller kind, callee kind), keeps them for d
// while checking every few seconds that neither end has ended it and
// that media keeps arriving, and then reads both ends and the daemons'
// RSS, and hangs up.
func (s *Session) RunLongCalls(ctx context.Context, pairs [][2]Kind, d time.Duration) ([]LongCallResult, error) {
	res := make([]LongCallResult, len(pairs))
	ends := make([][2]*Daemon, len(pairs))
	for i, p := range pairs {
		from, to := s.Callers[p[0]], s.Callees[p[1]]
		if from == nil || to == nil {
			return nil, fmt.Errorf("%w: no %v caller or %v callee in this session", ErrBadOptions, p[0], p[1])
		}
		ends[i] = [2]*Daemon{from, to}
		res[i].Caller, res[i].Callee = p[0], p[1]
		id, err := s.placeCall(ctx, from, to)
		res[i].ID = id
		if err != nil {
			return res, err
		}
		defer func() { _, _ = from.CLI(context.WithoutCancel(ctx), "hangup", id) }()
		for j, dm := range ends[i] {
			res[i].RSSStart[j], _ = RSS(dm.Proc.PID())
		}
	}
	start := time.Now()
	// Media must keep arriving: every stallCheck, each end must have
	// received packets since the previous check.
	const stallCheck = 5 * time.Second
	last := make([][2]uint64, len(pairs))
	lastCheck := start
	err := wait.For(ctx, 0, func() error {
		check := time.Since(lastCheck) >= stallCheck
		for i := range pairs {
			for j, dm := range ends[i] {
				c, err := dm.Call(ctx, res[i].ID)
				if err != nil {
					return wait.Stop(err)
				}
				if c.State == "ended" {
					res[i].Err = fmt.Sprintf("ended after %v at the %s: %s", time.Since(start).Round(time.Second), role(j), c.Reason)
					return wait.Stop(errors.New(res[i].Err))
				}
				r := End{Call: c}.Received()
				res[i].Received[j], res[i].Lost[j], res[i].Gaps[j] = r.Packets, r.Lost, r.GapsMS
				res[i].Restarts[j] = c.ICERestarts
				if j == 0 {
					res[i].Path = c.Path
				}
				if check {
					if r.Packets == last[i][j] {
						res[i].Err = fmt.Sprintf("no media at the %s for %v after %v", role(j), stallCheck, time.Since(start).Round(time.Second))
						return wait.Stop(errors.New(res[i].Err))
					}
					last[i][j] = r.Packets
				}
			}
		}
		if check {
			lastCheck = time.Now()
		}
		if time.Since(start) < d {
			return errors.New("still running") // wait.For's poll interval paces the checks
		}
		return nil
	})
	for i := range pairs {
		res[i].Duration = time.Since(start)
		for j, dm := range ends[i] {
			res[i].RSSEnd[j], _ = RSS(dm.Proc.PID())
		}
	}
	return res, err
}

func role(i int) string { return []string{"caller", "callee"}[i] }

// RSS returns the resident set size of process pid, in bytes.
func RSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
