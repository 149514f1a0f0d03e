package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/testnet"
	"github.com/parleyhq/parley/test/wait"
)

// confSetupTimeout bounds the wait for a whole conference mesh to carry
// media.
const confSetupTimeout = time.Minute

// confOptions are the flags of the conf subcommand.
type confOptions struct {
	sizes  []int
	window time.Duration
}

// confResult is one conference size over the measurement window.
type confResult struct {
	n        int
	cpuPct   float64 // bench process CPU / N, % of one core
	sentPPS  float64 // mean per participant
	recvPPS  float64
	sentKbps float64
	lost     int64
	recv     uint64
	setup    time.Duration // from the first invitation to media on every pair
}

// confCmd parses the conf flags and runs the bench.
func confCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("conf", flag.ExitOnError)
	sizes := fs.String("sizes", "2,4,6,8", "conference sizes (comma-separated, 2..8)")
	var o confOptions
	fs.DurationVar(&o.window, "window", 10*time.Second, "measurement window once every pair carries media")
	_ = fs.Parse(args)
	for f := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 || n > node.DefaultConferenceMax {
			return fmt.Errorf("conf: -sizes: %q: want 2..%d", f, node.DefaultConferenceMax)
		}
		o.sizes = append(o.sizes, n)
	}
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	bins, err := env.build(ctx, "parley-bootstrap")
	if err != nil {
		return err
	}
	_, err = confBench(ctx, w, env, bins.Bootstrap, o)
	return err
}

// confBench runs one conference per size, each on fresh in-process nodes,
// and prints the table.
func confBench(ctx context.Context, w io.Writer, env *benchEnv, bootBin string, o confOptions) ([]confResult, error) {
	video := env.path("conf-video.ivf")
	// Every pairwise call reads the file from its start; it must outlast
	// setup and window.
	if err := writeSyntheticIVF(video, int((o.window+2*confSetupTimeout)/time.Second)); err != nil {
		return nil, err
	}
	boots, boot, err := env.startBootstraps(ctx, bootBin, 1, turnLoopback...)
	defer func() {
		for _, p := range boots {
			p.Stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	var all []confResult
	for _, n := range o.sizes {
		progressf("conference of %d (audio tone + VP8 video each)…", n)
		r, err := confRun(ctx, env, boot, n, video, o.window)
		if err != nil {
			return all, fmt.Errorf("conference of %d: %w", n, err)
		}
		all = append(all, r)
	}
	printConf(w, o, all)
	return all, nil
}

// confRun starts n in-process nodes, has the first befriend and invite the
// others, waits until every pairwise call carries audio and video both
// ways, and measures over window.
func confRun(ctx context.Context, env *benchEnv, boot []string, n int, video string, window time.Duration) (confResult, error) {
	r := confResult{n: n}
	net, err := env.nodeNetwork(fmt.Sprintf("conf%d", n), boot, nil)
	if err != nil {
		return r, err
	}
	defer net.Close()
	var nodes []*testnet.Node
	for i := range n {
		nd, err := net.AddNode(fmt.Sprintf("p%d", i), nil)
		if err != nil {
			return r, err
		}
		nodes = append(nodes, nd)
	}
	if err := testnet.WaitPublished(ctx, nodes...); err != nil {
		return r, err
	}
	host := nodes[0]
	for _, nd := range nodes[1:] {
		if err := testnet.Befriend(ctx, host, nd); err != nil {
			return r, err
		}
	}
	media := func(i int) apitype.CallRequest {
		return apitype.CallRequest{Audio: fmt.Sprintf("tone:%d", 400+100*i), Video: video}
	}
	start := time.Now()
	cf, err := host.StartConference(n, media(0))
	if err != nil {
		return r, err
	}
	for i, nd := range nodes[1:] {
		if err := host.InviteToConference(ctx, cf.ID, nd.Account); err != nil {
			return r, err
		}
		err := wait.For(ctx, testnet.DefaultTimeout, func() error {
			if _, ok := conferenceOf(nd, cf.ID); !ok {
				return fmt.Errorf("participant %d has no invitation", i+1)
			}
			return nil
		})
		if err != nil {
			return r, err
		}
		if _, err := nd.JoinConference(ctx, cf.ID, media(i+1)); err != nil {
			return r, err
		}
	}
	if err := waitMesh(ctx, nodes, cf.ID); err != nil {
		return r, err
	}
	r.setup = time.Since(start)
	before, err := meshCounters(nodes, cf.ID)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	cpu0, err := cpuTime(os.Getpid())
	if err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, window); err != nil {
		return r, err
	}
	cpu1, err := cpuTime(os.Getpid())
	if err != nil {
		return r, err
	}
	secs := time.Since(t0).Seconds()
	after, err := meshCounters(nodes, cf.ID)
	if err != nil {
		return r, err
	}
	d := after.sub(before)
	r.cpuPct = 100 * (cpu1 - cpu0).Seconds() / secs / float64(n)
	r.sentPPS = float64(d.sentPkts) / secs / float64(n)
	r.recvPPS = float64(d.recvPkts) / secs / float64(n)
	r.sentKbps = float64(d.sentBytes) * 8 / 1000 / secs / float64(n)
	r.lost, r.recv = d.lost, d.recvPkts
	for _, nd := range nodes {
		_ = nd.LeaveConference(ctx, cf.ID)
	}
	return r, nil
}

// conferenceOf returns n's view of conference id.
func conferenceOf(n *testnet.Node, id string) (apitype.Conference, bool) {
	for _, c := range n.Conferences() {
		if c.ID == id {
			return c, true
		}
	}
	return apitype.Conference{}, false
}

// waitMesh waits until every node has a connected call with every other
// participant that has received both audio and video.
func waitMesh(ctx context.Context, nodes []*testnet.Node, id string) error {
	return wait.For(ctx, confSetupTimeout, func() error {
		for i, nd := range nodes {
			cf, ok := conferenceOf(nd, id)
			if !ok {
				return fmt.Errorf("participant %d: not in the conference", i)
			}
			peers := 0
			for _, p := range cf.Participants {
				if p.Self {
					continue
				}
				if p.Call == nil || p.Call.State != "connected" {
					return fmt.Errorf("participant %d: call with %s not connected", i, p.Device)
				}
				for _, kind := range []string{"audio", "video"} {
					if s, ok := daemon.Stream(*p.Call, "receive", kind); !ok || s.Packets == 0 {
						return fmt.Errorf("participant %d: no %s from %s yet", i, kind, p.Device)
					}
				}
				peers++
			}
			if peers != len(nodes)-1 {
				return fmt.Errorf("participant %d: %d peers, want %d", i, peers, len(nodes)-1)
			}
		}
		return nil
	})
}

// meshTotals are counters summed over every stream of every pairwise call
// of every participant.
type meshTotals struct {
	sentPkts, sentBytes, recvPkts uint64
	lost                          int64
}

func (a meshTotals) sub(b meshTotals) meshTotals {
	return meshTotals{a.sentPkts - b.sentPkts, a.sentBytes - b.sentBytes, a.recvPkts - b.recvPkts, a.lost - b.lost}
}

// meshCounters sums the stream counters of all nodes' pairwise calls in
// conference id.
func meshCounters(nodes []*testnet.Node, id string) (meshTotals, error) {
	var t meshTotals
	for i, nd := range nodes {
		cf, ok := conferenceOf(nd, id)
		if !ok {
			return t, fmt.Errorf("participant %d left the conference", i)
		}
		for _, p := range cf.Participants {
			if p.Self || p.Call == nil {
				continue
			}
			if p.Call.State != "connected" {
				return t, fmt.Errorf("%w: participant %d's call with %s is %s (%s)", ErrCallEnded, i, p.Device, p.Call.State, p.Call.Reason)
			}
			for _, s := range p.Call.Streams {
				switch s.Direction {
				case "send":
					t.sentPkts += s.Packets
					t.sentBytes += s.Bytes
				case "receive":
					t.recvPkts += s.Packets
					t.lost += s.Lost
				}
			}
		}
	}
	return t, nil
}

// printConf prints the conference table.
func printConf(w io.Writer, o confOptions, all []confResult) {
	fmt.Fprintf(w, "One parley-bootstrap and N in-process nodes on loopback (ICE loopback candidates; the paths are direct). "+
		"The first node befriends the others, starts a conference and invites them; each joins. Every participant sends "+
		"a G.711 test tone and the synthetic VP8 IVF (320x240, 30 fps, ≈ 450 kbit/s) on each of its N−1 pairwise calls "+
		"(full mesh, a separate SRTP session per pair). Measured over %v once every pair carries audio and video both ways. "+
		"All N nodes share one process: **CPU per participant = bench process CPU / N** (%% of one core), and includes "+
		"the bench's own polling. Packets and loss are summed from every participant's per-call stream counters "+
		"(loss = RTP sequence gaps reported by the receivers).\n\n", o.window)
	fmt.Fprintf(w, "| participants | pairwise calls | mesh up after | CPU per participant | sent per participant | received per participant | loss |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|\n")
	for _, r := range all {
		loss := 0.0
		if tot := float64(r.recv) + float64(r.lost); tot > 0 {
			loss = 100 * float64(r.lost) / tot
		}
		fmt.Fprintf(w, "| %d | %d | %.0f ms | %.1f %% | %.0f pkts/s (%.0f kbit/s) | %.0f pkts/s | %.2f %% (%d pkts) |\n",
			r.n, r.n*(r.n-1)/2, ms(r.setup), r.cpuPct, r.sentPPS, r.sentKbps, r.recvPPS, loss, r.lost)
	}
}
