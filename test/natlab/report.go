package natlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
)

// Goals of issue 5 at 25 ms one-way uplink delay: median time to first
// media in both directions. They are benchmarks, reported, not asserted.
const (
	GoalDirect = 300 * time.Millisecond
	GoalRelay  = 400 * time.Millisecond
)

// MatrixOptions configures RunMatrix.
type MatrixOptions struct {
	// Bins are the Parley binaries (see Build).
	Bins daemon.Binaries
	// Dir is a scratch directory for data directories.
	Dir string
	// Delay is every uplink's one-way delay (see SiteConfig).
	Delay time.Duration
	// Runs is the number of calls per cell. Defaults to 3.
	Runs int
	// Media is how long media flows in each call. Defaults to 2 s.
	Media time.Duration
	// Cells are the (caller, callee) kinds to call. Defaults to all 16.
	Cells [][2]Kind
	// Lab carries Helper, HelperEnv and Logf.
	Lab Options
}

// Cell is the calls of one (caller kind, callee kind) pair.
type Cell struct {
	Caller, Callee Kind
	Runs           []CallResult
}

// MatrixResult is a matrix run at one delay.
type MatrixResult struct {
	Delay time.Duration
	Cells []Cell
	// Ready is how long the session took to start; ReachableAfter how long
	// the slowest NATed daemon needed to hold a relay reservation; Took the
	// whole run.
	Ready, ReachableAfter, Took time.Duration
}

// RunMatrix builds a lab with a caller and a callee of every kind, starts
// the session and calls each cell Runs times, one call at a time. The lab
// is torn down before it returns.
func RunMatrix(ctx context.Context, o MatrixOptions) (res *MatrixResult, err error) {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Media <= 0 {
		o.Media = 2 * time.Second
	}
	if len(o.Cells) == 0 {
		for _, a := range Kinds {
			for _, b := range Kinds {
				o.Cells = append(o.Cells, [2]Kind{a, b})
			}
		}
	}
	start := time.Now()
	lo := o.Lab
	lo.Sites = FullCast.Sites(o.Delay, 0)
	l, err := Up(ctx, lo)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, l.Down()) }()
	s, err := StartSession(ctx, l, FullCast, SessionOptions{Bins: o.Bins, Dir: filepath.Join(o.Dir, fmt.Sprintf("delay-%v", o.Delay))})
	if err != nil {
		return nil, err
	}
	res = &MatrixResult{Delay: o.Delay, Ready: s.Ready, ReachableAfter: s.ReachableAfter}
	for _, c := range o.Cells {
		cell := Cell{Caller: c[0], Callee: c[1]}
		for range o.Runs {
			r, err := s.Call(ctx, c[0], c[1], o.Media)
			if err != nil {
				return res, err
			}
			l.logf("natlab: %v", r)
			cell.Runs = append(cell.Runs, r)
		}
		res.Cells = append(res.Cells, cell)
	}
	res.Took = time.Since(start)
	return res, nil
}

// String summarizes a call on one line.
func (r CallResult) String() string {
	if !r.Connected {
		return fmt.Sprintf("%v → %v at %v: FAILED: %s", r.Caller, r.Callee, r.Delay, r.Err)
	}
	s := fmt.Sprintf("%v → %v at %v: media at both ends after %v (caller %v, callee %v), %s, received %d/%d packets, loss %.1f%%/%.1f%%",
		r.Caller, r.Callee, r.Delay, ms(r.Setup()), ms(r.CallerEnd.Setup), ms(r.CalleeEnd.Setup), r.PathLabel(),
		r.CallerEnd.Received().Packets, r.CalleeEnd.Received().Packets, 100*r.CallerEnd.LossRate(), 100*r.CalleeEnd.LossRate())
	if r.Err != "" {
		s += ": " + r.Err
	}
	return s
}

// PathLabel is "direct/udp", "relay/udp" or "relay/tcp" (tcp when either
// end reaches TURN over TCP).
func (r CallResult) PathLabel() string {
	kind := r.CallerEnd.Call.Path.Kind
	if kind == "" || r.CalleeEnd.Call.Path.Kind != kind {
		kind = r.CallerEnd.Call.Path.Kind + "|" + r.CalleeEnd.Call.Path.Kind
	}
	network := "udp"
	if r.CallerEnd.Call.Path.Network == "tcp" || r.CalleeEnd.Call.Path.Network == "tcp" {
		network = "tcp"
	}
	return kind + "/" + network
}

// Connected counts the runs that connected.
func (c Cell) Connected() int {
	n := 0
	for _, r := range c.Runs {
		if r.Connected && r.Err == "" {
			n++
		}
	}
	return n
}

// Median returns the median over connected runs of f.
func (c Cell) Median(f func(CallResult) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range c.Runs {
		if r.Connected && r.Err == "" {
			ds = append(ds, f(r))
		}
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}

// Path is the path label of the runs, or the labels joined by " or " when
// they differ.
func (c Cell) Path() string {
	var labels []string
	for _, r := range c.Runs {
		if r.Connected && r.Err == "" && !slices.Contains(labels, r.PathLabel()) {
			labels = append(labels, r.PathLabel())
		}
	}
	if len(labels) == 0 {
		return "no path"
	}
	return strings.Join(labels, " or ")
}

// PathAsExpected reports whether every connected run ended on the kind of
// path theory predicts.
func (c Cell) PathAsExpected() bool {
	want := Expect(c.Caller, c.Callee)
	for _, r := range c.Runs {
		if !r.Connected || r.Err != "" {
			continue
		}
		for _, p := range []string{r.CallerEnd.Call.Path.Kind, r.CalleeEnd.Call.Path.Kind} {
			if (p == "direct") != want.Direct {
				return false
			}
		}
	}
	return true
}

// Goal is the cell's setup goal at 25 ms.
func (c Cell) Goal() time.Duration {
	if Expect(c.Caller, c.Callee).Direct {
		return GoalDirect
	}
	return GoalRelay
}

func (m *MatrixResult) cell(a, b Kind) (Cell, bool) {
	for _, c := range m.Cells {
		if c.Caller == a && c.Callee == b {
			return c, true
		}
	}
	return Cell{}, false
}

// Table renders the 4×4 table (Markdown): median time from `parley call`
// to media at both ends, and the path, per cell.
func (m *MatrixResult) Table() string {
	var b strings.Builder
	b.WriteString("| caller ↓ · callee → |")
	for _, k := range Kinds {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(Kinds)) + "\n")
	for _, a := range Kinds {
		fmt.Fprintf(&b, "| **%s** |", a)
		for _, k := range Kinds {
			c, ok := m.cell(a, k)
			switch {
			case !ok:
				b.WriteString(" – |")
			case c.Connected() == 0:
				fmt.Fprintf(&b, " ✗ failed (%d runs) |", len(c.Runs))
			default:
				mark := ""
				if c.Connected() < len(c.Runs) {
					mark += fmt.Sprintf(" (%d/%d ok)", c.Connected(), len(c.Runs))
				}
				if !c.PathAsExpected() {
					mark += " ⚠ expected " + Expect(a, k).String()
				}
				fmt.Fprintf(&b, " %s · %s%s |", ms(c.Median(CallResult.Setup)), c.Path(), mark)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Details renders one row per cell (Markdown): runs, both ends' median
// times, the spread, the loss, and the goal check at 25 ms.
func (m *MatrixResult) Details() string {
	var b strings.Builder
	b.WriteString("| caller → callee | ok | median both | caller | callee | min–max both | path | max loss | goal |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range m.Cells {
		lo, hi := time.Duration(-1), time.Duration(0)
		var loss float64
		for _, r := range c.Runs {
			if !r.Connected || r.Err != "" {
				continue
			}
			if lo < 0 || r.Setup() < lo {
				lo = r.Setup()
			}
			hi = max(hi, r.Setup())
			loss = max(loss, r.CallerEnd.LossRate(), r.CalleeEnd.LossRate())
		}
		lo = max(lo, 0)
		goal := "–"
		if m.Delay == 25*time.Millisecond && c.Connected() > 0 {
			goal = fmt.Sprintf("≤ %v ✓", ms(c.Goal()))
			if med := c.Median(CallResult.Setup); med > c.Goal() {
				goal = fmt.Sprintf("≤ %v ✗", ms(c.Goal()))
			}
		}
		fmt.Fprintf(&b, "| %s → %s | %d/%d | %s | %s | %s | %s–%s | %s | %.1f%% | %s |\n", c.Caller, c.Callee, c.Connected(), len(c.Runs),
			ms(c.Median(CallResult.Setup)), ms(c.Median(func(r CallResult) time.Duration { return r.CallerEnd.Setup })),
			ms(c.Median(func(r CallResult) time.Duration { return r.CalleeEnd.Setup })), ms(lo), ms(hi), c.Path(), 100*loss, goal)
	}
	return b.String()
}

// Slowest is the connected call with the longest setup among those on a
// direct path (direct true) or a relayed one (ok false when none).
func (m *MatrixResult) Slowest(direct bool) (r CallResult, ok bool) {
	for _, c := range m.Cells {
		for _, x := range c.Runs {
			if x.Connected && x.Err == "" && (x.CallerEnd.Call.Path.Kind == "direct") == direct && (!ok || x.Setup() > r.Setup()) {
				r, ok = x, true
			}
		}
	}
	return r, ok
}

// Timeline renders the setup steps of both ends of a call (Markdown), in
// ms since `parley call` ran, merged in time order.
func (r CallResult) Timeline() string {
	type row struct {
		at        time.Duration
		who, step string
	}
	var rows []row
	for _, e := range []struct {
		who string
		c   apitype.Call
	}{{"caller", r.CallerEnd.Call}, {"callee", r.CalleeEnd.Call}} {
		for _, m := range e.c.Timeline {
			rows = append(rows, row{e.c.Started.Add(msDuration(m.MS)).Sub(r.Start), e.who, string(m.Step)})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.at, b.at) })
	var b strings.Builder
	b.WriteString("| ms since `parley call` | side | step | Δ |\n|---|---|---|---|\n")
	var prev time.Duration
	for _, x := range rows {
		fmt.Fprintf(&b, "| %.1f | %s | %s | +%.1f |\n", float64(x.at.Microseconds())/1000, x.who, x.step, float64((x.at-prev).Microseconds())/1000)
		prev = x.at
	}
	return b.String()
}

// Failures lists the calls that did not connect or ended early, one
// Markdown bullet each.
func (m *MatrixResult) Failures() string {
	var b strings.Builder
	for _, c := range m.Cells {
		for i, r := range c.Runs {
			if r.Connected && r.Err == "" {
				continue
			}
			e := r.Err
			if len(e) > 160 {
				e = e[:160] + "…"
			}
			fmt.Fprintf(&b, "- %s → %s, call %d of %d: %s\n", c.Caller, c.Callee, i+1, len(c.Runs), e)
		}
	}
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// Machine describes where a report was measured.
type Machine struct {
	OS, Kernel, CPU, Go, Commit string
	Cores                       int
}

// ThisMachine describes the current machine and source tree (no host
// names or paths).
func ThisMachine() Machine {
	m := Machine{Go: runtime.Version(), Cores: runtime.NumCPU(), OS: "unknown", CPU: "unknown"}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = daemon.ModuleRoot()
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// KeepMarker starts the part of the report file that `natlab matrix`
// keeps when it writes a new matrix: sections measured by other runs.
const KeepMarker = "<!-- natlab matrix keeps what follows -->"

// WriteReport writes docs/connectivity.md: the tables of each run, the
// date, the machine and the method.
func WriteReport(w io.Writer, results []*MatrixResult, o MatrixOptions, mach Machine, when time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Connectivity matrix\n\n")
	fmt.Fprintf(&b, "Measured %s with `go run ./test/natlab/cmd/natlab matrix` (commit %s) on %s, kernel %s, %s (%d cores), %s.\n",
		when.UTC().Format("2006-01-02 15:04 MST"), mach.Commit, mach.OS, mach.Kernel, mach.CPU, mach.Cores, mach.Go)
	fmt.Fprintf(&b, "Each cell is the median over %d calls of the time from running `parley call` until **both** ends had decrypted media, and the path the call ended on; the caller's kind is the row, the callee's the column.\n\n", o.Runs)
	for _, r := range results {
		fmt.Fprintf(&b, "## %s one-way delay on every uplink\n\n", ms(r.Delay))
		b.WriteString(r.Table())
		fmt.Fprintf(&b, "\nSession start %v (NATed daemons reachable through the relay after %v); whole run %v.\n\n",
			r.Ready.Round(time.Second), r.ReachableAfter.Round(time.Second), r.Took.Round(time.Second))
		if r.Delay == 25*time.Millisecond {
			fmt.Fprintf(&b, "Goals at 25 ms (issue 5, benchmarks, not asserted): median ≤ %v in direct cells, ≤ %v in relayed cells.\n\n", ms(GoalDirect), ms(GoalRelay))
		}
		b.WriteString("<details><summary>Per cell</summary>\n\n")
		b.WriteString(r.Details())
		b.WriteString("\n</details>\n\n")
		for _, direct := range []bool{true, false} {
			if slow, ok := r.Slowest(direct); ok {
				fmt.Fprintf(&b, "<details><summary>Where the time went in the slowest %s call (%s → %s, %s, %s)</summary>\n\n",
					map[bool]string{true: "direct", false: "relayed"}[direct], slow.Caller, slow.Callee, ms(slow.Setup()), slow.PathLabel())
				b.WriteString(slow.Timeline())
				b.WriteString("\n</details>\n\n")
			}
		}
		if f := r.Failures(); f != "" {
			b.WriteString("Failed calls:\n\n" + f + "\n")
		}
	}
	b.WriteString(reportMethod)
	_, err := io.WriteString(w, b.String())
	return err
}

const reportMethod = `## Method

The lab (package ` + "`test/natlab`" + `) builds the topology from Linux network namespaces:
an "internet" namespace routing between a server host (the bootstrap's address) and the
sites, and per site a router namespace with kernel NAT (iptables) and a host namespace
behind it. The internet uses a block that looks public to libp2p, so AutoNAT works as on
the real internet. Site kinds: **none** (public
address, plain router), **cone** (MASQUERADE: endpoint-independent mapping, port-restricted
filtering), **symmetric** (MASQUERADE --random-fully: a new port per destination),
**udp-blocked** (cone, and every UDP packet dropped), **tcp443** (cone, and nothing leaves
but TCP to port 443: no UDP, no DNS, no TCP to other ports; the bootstrap listens libp2p on
TCP 443 too, and a tcp443 daemon reaches TURN over a libp2p stream on that connection,
` + "`/parley/turn-stream/1`" + `). Routers drop unsolicited inbound
packets silently. The delay is added by a user-space delay line (NFQUEUE) to every packet a
site sends into the internet, so two sites with delay d have a round trip of 2d and a site
and the bootstrap one of d.

One lab per delay holds ten sites: a caller site and a callee site of every kind, one
` + "`parleyd`" + ` in each (built with ` + "`-tags parleylab`" + `), and ` + "`parley-bootstrap`" + ` (DHT,
circuit relay, STUN/TURN; libp2p on TCP 4001, QUIC 4001 and TCP 443) on the server host. The daemons start together; the NATed
ones become reachable once AutoNAT has found them private and they hold a relay
reservation. Every caller then befriends every callee with ` + "`parley contact add`" + ` /
` + "`accept`" + `, and the callees answer contacts automatically. Then, one call at a time:
` + "`parley --data CALLER call CALLEE --audio tone:700 --wait 20s --json`" + `; media (a 700 Hz tone
one way, 440 Hz the other, G.711 in SRTP) flows for a few seconds; both ends are read with
` + "`parley calls --json`" + ` (path, packets, loss, the detected tone); ` + "`parley hangup`" + `.

**Time to first media.** The wall clock is read just before ` + "`parley call`" + ` runs. Each end
reports when its call started (` + "`started`" + `: at the caller the API request, at the callee
the offer's arrival) and the time from then to its first decrypted media packet
(` + "`setup_ms`" + `); ` + "`started + setup_ms`" + ` is the first packet's wall time, and all processes
share the machine's clock. The table shows the later of the two ends. The first call of a
cell dials the callee's device over libp2p (through the circuit relay for a NATed callee);
later calls reuse that connection.

**Circuit limits.** The bootstrap runs with its default relay limits: a relayed libp2p
connection lasts at most 2 minutes (` + "`--relay-circuit-duration`" + `). A call whose signalling
runs over such a connection ends when it expires, although its media does not use it (a
known bug, ` + "`TestRelayedCallOutlivesCircuit`" + `); calls that ended so are listed as failed
and left out of the medians.

**Path.** ` + "`direct`" + ` when neither end of the selected ICE pair is a TURN relay candidate,
` + "`relay`" + ` otherwise; ` + "`tcp`" + ` when one end reaches TURN over TCP (from a udp-blocked
or tcp443 site: over a TURN stream on its libp2p connection to the bootstrap, since it
holds no QUIC connection there; the tcp443 site has no other way). The path is read after the
media period, so a call that started on TURN and was renominated to a direct pair counts as
direct.
`
