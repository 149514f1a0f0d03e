package natlab

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DelayLineReady is the line the delay line prints once its queues are
// bound; the lab installs the NFQUEUE rules only after seeing it.
const DelayLineReady = "natlab delayline ready"

// HelperMain runs a helper subcommand of the lab inside the namespace it
// was started in. The only one is
//
//	delayline --queue N=DELAY [--queue M=DELAY ...]
//
// which holds every packet of NFQUEUE queue N for DELAY and then lets it
// go, in arrival order, until ctx ends. The natlab command and the tests'
// TestMain call it when re-executed by the lab.
func HelperMain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "delayline" {
		return fmt.Errorf("%w: helper: want the delayline subcommand, got %q", ErrBadOptions, args)
	}
	fs := flag.NewFlagSet("delayline", flag.ContinueOnError)
	fs.SetOutput(stdout)
	queues := queueFlag{}
	fs.Var(queues, "queue", "`N=DELAY`: hold packets of NFQUEUE queue N for DELAY (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("natlab: delayline: %w", err)
	}
	if len(queues) == 0 {
		return fmt.Errorf("%w: delayline: no --queue", ErrBadOptions)
	}
	st, err := RunDelayLine(ctx, queues, func() { fmt.Fprintln(stdout, DelayLineReady) })
	fmt.Fprintf(stdout, "natlab delayline: %d packets delayed, %d let through at once (line full)\n", st.Delayed, st.Overflowed)
	return err
}

// queueFlag parses repeated N=DELAY flags.
type queueFlag map[uint16]time.Duration

func (q queueFlag) String() string { return fmt.Sprint(map[uint16]time.Duration(q)) }

func (q queueFlag) Set(s string) error {
	num, dur, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want N=DELAY, got %q", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return fmt.Errorf("queue number %q: %w", num, err)
	}
	d, err := time.ParseDuration(dur)
	if err != nil || d < 0 {
		return fmt.Errorf("delay %q: want a duration ≥ 0", dur)
	}
	q[uint16(n)] = d
	return nil
}

// heldPacket is a queued packet and when it may go.
type heldPacket struct {
	p   queuedPacket
	due time.Time
}

// DelayStats counts what a delay line did.
type DelayStats struct {
	// Delayed packets were held for their queue's delay.
	Delayed uint64
	// Overflowed packets found their line full and were let go at once.
	Overflowed uint64
}

// RunDelayLine binds the given NFQUEUE queues in the current network
// namespace and delays their packets: each queue keeps a FIFO line and one
// goroutine that accepts the head packet once it has been held for the
// queue's delay, so order is kept. ready is called once the queues are
// bound. When ctx ends, the packets still held are let go at once.
func RunDelayLine(ctx context.Context, delays map[uint16]time.Duration, ready func()) (st DelayStats, err error) {
	q, err := openNFQueue(100 * time.Millisecond)
	if err != nil {
		return st, err
	}
	defer q.Close()
	for num := range delays {
		if err := q.Bind(num); err != nil {
			return st, err
		}
	}
	var delayed, overflowed atomic.Uint64
	defer func() { st.Delayed, st.Overflowed = delayed.Load(), overflowed.Load() }()
	var wg sync.WaitGroup
	lines := map[uint16]chan heldPacket{}
	var acceptErr atomic.Pointer[error]
	for num := range delays {
		ch := make(chan heldPacket, queueMaxLen)
		lines[num] = ch
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for h := range ch {
				if wait := time.Until(h.due); wait > 0 && ctx.Err() == nil {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-ctx.Done():
					}
				}
				if err := q.Accept(h.p); err != nil {
					acceptErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	defer func() {
		for _, ch := range lines {
			close(ch)
		}
		wg.Wait()
	}()
	if ready != nil {
		ready()
	}
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		pkts, err := q.Read(buf)
		if err != nil {
			return st, err
		}
		now := time.Now()
		for _, p := range pkts {
			select {
			case lines[p.Queue] <- heldPacket{p: p, due: now.Add(delays[p.Queue])}:
				delayed.Add(1)
			default:
				overflowed.Add(1)
				_ = q.Accept(p)
			}
		}
		if e := acceptErr.Load(); e != nil {
			return st, fmt.Errorf("natlab: delayline verdict: %w", *e)
		}
	}
	return st, nil
}
