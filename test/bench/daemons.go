package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// newDaemon creates an account with `parleyd init` (no passphrase) for a
// daemon on loopback in the given DHT mode, with extra environment
// variables (KEY=VALUE) for `parleyd run`.
func (e *benchEnv) newDaemon(ctx context.Context, bins daemon.Binaries, name, dhtMode string, env ...string) (*daemon.Parleyd, error) {
	return daemon.Init(ctx, daemon.Config{
		Bins: bins, Procs: e.procs, Name: name, Dir: e.path("daemon-" + name), Env: env,
		RunArgs: slices.Concat(daemon.LoopbackListenArgs, []string{"--dht-mode", dhtMode, "--ice-loopback", "--log-level", "warn"}),
	})
}

// callConnected holds once a call is connected and has received media.
func callConnected(c apitype.Call) bool { return c.State == "connected" && c.SetupMS != 0 }

// usage is a daemon's memory and CPU over one measurement window.
type usage struct {
	rssKiB  int     // VmRSS at the end of the window
	anonKiB int     // RssAnon at the end of the window
	cpu     float64 // user+system CPU time over the window, % of one core
}

// measure reads the daemons' CPU time, waits for window and reads it and
// their RSS again.
func measure(ctx context.Context, window time.Duration, ds ...*daemon.Parleyd) ([]usage, error) {
	ps := make([]*proc.Proc, len(ds))
	for i, d := range ds {
		ps[i] = d.Proc
	}
	return measureProcs(ctx, window, ps...)
}

// callRun is one measured daemon call.
type callRun struct {
	name string
	u    []usage // alice, bob
	// recv are the packets and bytes each side received during the
	// window, by stream kind.
	recv [2]map[string]apitype.Stream
	sas  [2]string
	path string
}

// daemonCall has alice call bob through the CLI, measures both daemons
// over window once media flows both ways, then hangs up and waits for the
// end on both sides.
func daemonCall(ctx context.Context, name string, alice, bob *daemon.Parleyd, window time.Duration, extra ...string) (callRun, error) {
	r := callRun{name: name}
	var c apitype.Call
	args := append([]string{"call", bob.AccountID, "--audio", "tone", "--wait", callConnectTimeout.String()}, extra...)
	if err := alice.CLIJSON(ctx, &c, args...); err != nil {
		return r, err
	}
	if _, err := bob.WaitCall(ctx, c.ID, callConnected); err != nil {
		return r, err
	}
	before, err := callStats(ctx, c.ID, alice, bob)
	if err != nil {
		return r, err
	}
	if r.u, err = measure(ctx, window, alice, bob); err != nil {
		return r, err
	}
	after, err := callStats(ctx, c.ID, alice, bob)
	if err != nil {
		return r, err
	}
	for i := range after {
		r.recv[i] = map[string]apitype.Stream{}
		r.sas[i] = after[i].SAS
		for _, s := range after[i].Streams {
			if s.Direction != "receive" {
				continue
			}
			if b, ok := daemon.Stream(before[i], "receive", s.Kind); ok {
				s.Packets -= b.Packets
				s.Bytes -= b.Bytes
			}
			r.recv[i][s.Kind] = s
		}
	}
	r.path = after[0].Path.Kind
	if _, err := alice.CLI(ctx, "hangup", c.ID); err != nil {
		return r, err
	}
	for _, d := range []*daemon.Parleyd{alice, bob} {
		if _, err := d.WaitCall(ctx, c.ID, wait.CallIs("ended")); err != nil {
			return r, err
		}
	}
	return r, nil
}

// callStats returns both daemons' view of a call.
func callStats(ctx context.Context, id string, ds ...*daemon.Parleyd) ([]apitype.Call, error) {
	var out []apitype.Call
	for _, d := range ds {
		c, err := d.Call(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.State != "connected" {
			return nil, fmt.Errorf("%w on %s: call is %s (%s)", ErrCallEnded, d.Name, c.State, c.Reason)
		}
		out = append(out, c)
	}
	return out, nil
}

// daemonBench runs a bootstrap and two parleyd processes and measures their
// RSS and CPU idle, in an audio call and in an audio+video call.
func daemonBench(ctx context.Context, w io.Writer, env *benchEnv, bins daemon.Binaries, o callsOptions) error {
	fmt.Fprintf(w, "\n## parleyd RSS and CPU (real binaries)\n\n")
	video := env.path("video.ivf")
	// Longer than the call: the file must not end inside the window.
	if err := writeSyntheticIVF(video, int((o.callTime+callConnectTimeout)/time.Second)); err != nil {
		return err
	}
	boots, boot, err := env.startBootstraps(ctx, bins.Bootstrap, 1, turnLoopback...)
	defer func() {
		for _, p := range boots {
			p.Stop()
		}
	}()
	if err != nil {
		return err
	}
	var ds []*daemon.Parleyd
	defer func() {
		for _, d := range ds {
			_ = d.Stop()
		}
	}()
	for _, name := range []string{"alice", "bob"} {
		d, err := env.newDaemon(ctx, bins, name, "client")
		if err != nil {
			return err
		}
		ds = append(ds, d)
		if err := d.Start(ctx, boot); err != nil {
			return err
		}
	}
	alice, bob := ds[0], ds[1]
	if err := befriendDaemons(ctx, alice, bob); err != nil {
		return err
	}

	idle, err := measure(ctx, o.idle, alice, bob)
	if err != nil {
		return err
	}
	audio, err := daemonCall(ctx, "audio", alice, bob, o.callTime)
	if err != nil {
		return fmt.Errorf("audio call: %w", err)
	}
	av, err := daemonCall(ctx, "audio+video", alice, bob, o.callTime, "--video", video)
	if err != nil {
		return fmt.Errorf("audio+video call: %w", err)
	}
	printDaemons(w, o, idle, audio, av)
	return nil
}

// printDaemons prints the daemon table, what flowed, and the goals.
func printDaemons(w io.Writer, o callsOptions, idle []usage, audio, av callRun) {
	fmt.Fprintf(w, "One parley-bootstrap (STUN/TURN on loopback) and two `parleyd run --dht-mode client --ice-loopback` on loopback, "+
		"befriended with `parley contact add/accept`; bob has calls.auto_answer=contacts. Idle is measured over %v after that; "+
		"each call (`parley call BOB --audio tone [--video synthetic.ivf]`) over %v once media flows both ways. "+
		"CPU is utime+stime from /proc/PID/stat over the window, as %% of one core; RSS is VmRSS at the window's end. "+
		"CPU resolution is one clock tick (10 ms): %.2f %% over the idle window, %.2f %% over a call's.\n\n",
		o.idle, o.callTime, 100*0.01/o.idle.Seconds(), 100*0.01/o.callTime.Seconds())
	fmt.Fprintf(w, "| daemon | idle RSS | idle CPU | RSS, audio call | CPU, audio call | RSS, audio+video call | CPU, audio+video call |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|\n")
	for i, who := range []string{"alice (caller)", "bob (callee)"} {
		fmt.Fprintf(w, "| %s | %.1f MiB | %.2f %% | %.1f MiB | %.2f %% | %.1f MiB | %.2f %% |\n", who,
			mib(idle[i].rssKiB), idle[i].cpu, mib(audio.u[i].rssKiB), audio.u[i].cpu, mib(av.u[i].rssKiB), av.u[i].cpu)
	}
	fmt.Fprintf(w, "\nMedia received during each window (path %s / %s; SAS equal on both sides: %v / %v):\n\n",
		audio.path, av.path, audio.sas[0] == audio.sas[1] && audio.sas[0] != "", av.sas[0] == av.sas[1] && av.sas[0] != "")
	fmt.Fprintf(w, "| call | alice received | bob received |\n|---|---|---|\n")
	for _, r := range []callRun{audio, av} {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.name, describeRecv(r.recv[0], o.callTime), describeRecv(r.recv[1], o.callTime))
	}
	fmt.Fprintln(w, "\n(bob auto-answers with the default source, a tone: video flows alice → bob only.)")

	idleOK := idle[0].rssKiB <= goalIdleRSSKiB && idle[1].rssKiB <= goalIdleRSSKiB
	cpuOK := audio.u[0].cpu <= goalAudioCPU && audio.u[1].cpu <= goalAudioCPU
	fmt.Fprintf(w, "\nGoal ≤ %d MiB idle RSS per daemon: %s (alice %.1f MiB, bob %.1f MiB).\n",
		goalIdleRSSKiB/1024, verdict(idleOK), mib(idle[0].rssKiB), mib(idle[1].rssKiB))
	fmt.Fprintf(w, "Goal ≤ %.0f %% of a core per audio-only call: %s (alice %.2f %%, bob %.2f %%; above idle: alice %.2f %%, bob %.2f %%).\n",
		goalAudioCPU, verdict(cpuOK), audio.u[0].cpu, audio.u[1].cpu, audio.u[0].cpu-idle[0].cpu, audio.u[1].cpu-idle[1].cpu)
}

// describeRecv summarises received streams: packets and rate per kind.
func describeRecv(recv map[string]apitype.Stream, window time.Duration) string {
	out := ""
	for _, kind := range []string{"audio", "video"} {
		s, ok := recv[kind]
		if !ok {
			continue
		}
		if out != "" {
			out += "; "
		}
		out += fmt.Sprintf("%s %s: %d pkts, %.0f kbit/s, lost %d", kind, s.Codec, s.Packets,
			float64(s.Bytes)*8/1000/window.Seconds(), s.Lost)
	}
	if out == "" {
		return "nothing"
	}
	return out
}
