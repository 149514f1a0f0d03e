package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// ffmpegSeconds is how much audio ffmpeg sends into the call.
const ffmpegSeconds = 4

// TestFFmpegInterop: a real media tool on both ends of a call. ffmpeg encodes
// a 440 Hz sine to Opus and sends it as RTP (dynamic payload type 97) into the
// local port alice's call reads from; bob answers with --record and writes
// what arrives to an Ogg file; ffprobe must read that file and find it as
// long as what ffmpeg sent (within 10 %).
func TestFFmpegInterop(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := lookTool(t, "ffmpeg"), lookTool(t, "ffprobe")
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))

	// Auto-answer would answer with default options, which do not record;
	// bob answers by hand so that he can record.
	port := freeUDPPort(t)
	rtpURL := fmt.Sprintf("rtp://127.0.0.1:%d", port)
	var c apitype.Call
	cliJSON(t, alice, &c, "call", bob.AccountID, "--audio", rtpURL+"?codec=opus")
	waitCallState(t, bob, c.ID, "ringing")
	recDir := filepath.Join(t.TempDir(), "bob-recordings")
	var answered apitype.Call
	cliJSON(t, bob, &answered, "answer", c.ID, "--record", recDir)
	waitCallState(t, alice, c.ID, "connected")
	waitCallState(t, bob, c.ID, "connected")

	// ffmpeg sends in real time (-re) and exits when its input ends.
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	started := time.Now()
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", ffmpegSeconds),
		"-c:a", "libopus", "-b:a", "32k", "-f", "rtp", rtpURL).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	t.Logf("ffmpeg sent %d s of Opus in %.1f s", ffmpegSeconds, time.Since(started).Seconds())

	// Wait for the stream to settle: bob's receive count has stopped
	// growing for a while (no fixed sleep).
	recv, sent := settleReceive(t, alice, bob, c.ID)
	t.Logf("alice sent %d Opus packets; bob received %d (%d bytes, lost %d), call dropped %d",
		sent.Packets, recv.Packets, recv.Bytes, recv.Lost, recv.dropped)
	// 20 ms Opus frames: ffmpegSeconds*50 packets, give or take the last.
	if want := uint64(ffmpegSeconds * 50 * 9 / 10); sent.Packets < want {
		t.Errorf("alice sent %d packets from ffmpeg, want at least %d", sent.Packets, want)
	}
	if recv.Packets == 0 || recv.Packets*100 < sent.Packets*95 {
		t.Errorf("bob received %d of the %d packets alice sent", recv.Packets, sent.Packets)
	}
	if recv.dropped != 0 {
		t.Errorf("bob's call dropped %d packets", recv.dropped)
	}

	// Bob hangs up: his recording is closed before the command returns.
	cli(t, bob, "hangup", c.ID)
	waitCallState(t, alice, c.ID, "ended")

	files, err := filepath.Glob(filepath.Join(recDir, "*.ogg"))
	if err != nil || len(files) != 1 {
		t.Fatalf("bob's recordings in the record directory: %v, %v (want one .ogg)", files, err)
	}
	out, err = exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "format=duration",
		"-of", "csv=p=0", files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(files[0]), err, out)
	}
	dur, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	t.Logf("ffprobe: %s lasts %.3f s", filepath.Base(files[0]), dur)
	if math.Abs(dur-ffmpegSeconds) > 0.1*ffmpegSeconds {
		t.Errorf("recorded duration %.3f s, want %d s ± 10 %%", dur, ffmpegSeconds)
	}
}

// lookTool returns the path of a media tool, skipping the test without it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not on PATH (install the ffmpeg package; .ci/run does): %v", name, err)
	}
	return p
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// waitCallState waits until call id is in state want on d; it fails early
// when the call ends while another state is awaited.
func waitCallState(t *testing.T, d *daemon.Parleyd, id, want string) {
	t.Helper()
	_, err := d.WaitCall(t.Context(), id, wait.CallIs(want))
	ok(t, err)
}

// recvStats is bob's receive stream plus the call's dropped count.
type recvStats struct {
	apitype.Stream
	dropped uint64
}

// settleReceive polls until bob's audio receive count is non-zero and has
// not changed for a second, and returns it with alice's send stream.
func settleReceive(t *testing.T, alice, bob *daemon.Parleyd, id string) (recvStats, apitype.Stream) {
	t.Helper()
	const quiet = time.Second
	var last recvStats
	changed := time.Now()
	test.WaitFor(t, 30*time.Second, func() error {
		bc, err := bob.Call(t.Context(), id)
		if err != nil {
			return err
		}
		s, ok := daemon.Stream(bc, "receive", "audio")
		if !ok || s.Codec != "opus" {
			return fmt.Errorf("bob has no Opus receive stream: %+v", bc.Streams)
		}
		cur := recvStats{Stream: s, dropped: bc.Dropped}
		if cur.Packets != last.Packets {
			last, changed = cur, time.Now()
		}
		last.dropped = cur.dropped
		if last.Packets == 0 || time.Since(changed) < quiet {
			return fmt.Errorf("bob's receive count %d still moving", last.Packets)
		}
		return nil
	})
	ac, err := alice.Call(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	sent, ok := daemon.Stream(ac, "send", "audio")
	if !ok || sent.Codec != "opus" {
		t.Fatalf("alice has no Opus send stream: %+v", ac.Streams)
	}
	return last, sent
}
