//go:build unix

package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pion/rtp"
)

// withUmask runs the test under umask 022 (the usual one), so that a file
// created with the default mode would be 0644 and a wrong mode shows.
func withUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// recordingSinks are the ways a recording file is made: by name and in a
// directory, for audio and video.
var recordingSinks = []struct {
	name, spec string // spec below the test's dir
	codec      Codec
	file       string // the file it makes
}{
	{"ogg file", "call.ogg", Opus, "call.ogg"},
	{"ivf file", "call.ivf", VP8, "call.ivf"},
	{"dir audio", "rec", Opus, "rec/audio-opus.ogg"},
	{"dir video", "rec", VP9, "rec/video-vp9.ivf"},
}

// TestRecordingPrivate: recordings and the directories made for them are
// readable by the owner only.
func TestRecordingPrivate(t *testing.T) {
	withUmask(t)
	for _, tt := range recordingSinks {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := ParseSink(filepath.Join(dir, "new", tt.spec), tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, "new", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("recording %s has mode %#o, want 0600", tt.file, m)
			}
			di, err := os.Stat(filepath.Join(dir, "new"))
			if err != nil {
				t.Fatal(err)
			}
			if m := di.Mode().Perm(); m != 0o700 {
				t.Errorf("directory made for it has mode %#o, want 0700", m)
			}
		})
	}
}

// TestRecordingRefusesLinks: a symbolic link planted at a recording's name
// (to a file of the user's, or dangling) is not followed: the target is
// neither truncated nor created.
func TestRecordingRefusesLinks(t *testing.T) {
	for _, tt := range recordingSinks {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(dir, "victim")
			if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			dangling := filepath.Join(dir, "created-through-link")
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.file)), 0o700); err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{victim, dangling} {
				link := filepath.Join(dir, tt.file)
				os.Remove(link)
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				s, err := ParseSink(filepath.Join(dir, tt.spec), tt.codec)
				if err == nil {
					s.Close()
				}
				if b, _ := os.ReadFile(victim); string(b) != "precious" {
					t.Fatalf("recording through a link to %s: the linked file now holds %q", target, b)
				}
				if _, err := os.Lstat(dangling); err == nil {
					t.Fatalf("recording through a dangling link created its target")
				}
				if tt.spec == tt.file && !errors.Is(err, ErrExists) {
					t.Errorf("ParseSink over a link = %v, want ErrExists", err)
				}
			}
		})
	}
}

// TestRecordingNeverReplaces: a named recording file that exists is refused
// (and CheckSink says so before a call); in a directory, the next call gets
// a new name and the earlier recording is kept.
func TestRecordingNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	named := filepath.Join(dir, "call.ogg")
	if err := os.WriteFile(named, []byte("earlier call"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckSink(named); !errors.Is(err, ErrExists) {
		t.Errorf("CheckSink(existing file) = %v, want ErrExists", err)
	}
	if _, err := ParseSink(named, Opus); !errors.Is(err, ErrExists) {
		t.Errorf("ParseSink(existing file) = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(named); string(b) != "earlier call" {
		t.Fatalf("the existing recording now holds %q", b)
	}
	for _, spec := range []string{"", "count", filepath.Join(dir, "rec"), filepath.Join(dir, "new.ogg"), "rtp://127.0.0.1:9"} {
		if err := CheckSink(spec); err != nil {
			t.Errorf("CheckSink(%q) = %v", spec, err)
		}
	}
	if err := CheckSink("rtp://127.0.0.1"); !errors.Is(err, ErrBadSpec) {
		t.Errorf("CheckSink(rtp without port) = %v, want ErrBadSpec", err)
	}

	rec := filepath.Join(dir, "rec")
	for i, want := range []string{"audio-opus.ogg", "audio-opus-2.ogg", "audio-opus-3.ogg"} {
		s, err := ParseSink(rec, Opus)
		if err != nil {
			t.Fatal(err)
		}
		writeOpus(t, s, i+1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		src, err := OpenOgg(filepath.Join(rec, want), false)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if n := len(readAll(t, src, 100)); n != i+1 {
			t.Errorf("%s holds %d packets, want %d (replaced by a later call?)", want, n, i+1)
		}
		src.Close()
	}
}

// writeOpus writes n Opus packets to s.
func writeOpus(t *testing.T, s Sink, n int) {
	t.Helper()
	for i := range n {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 1234}, Payload: opusPacket(0xf8, 40, byte(i))}
		if err := s.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecordingReadableUnclosed: a recording whose daemon was killed
// mid-call (the sink never closed) plays up to what was received, which is
// why recordings are written in place rather than renamed at the end.
func TestRecordingReadableUnclosed(t *testing.T) {
	dir := t.TempDir()
	ogg, err := NewOggSink(filepath.Join(dir, "a.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	writeOpus(t, ogg, 5)
	src, err := OpenOgg(filepath.Join(dir, "a.ogg"), false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, src, 100)); n != 5 {
		t.Errorf("unclosed Ogg recording plays %d packets, want 5", n)
	}
	src.Close()
	ogg.Close()

	ivf, err := NewIVFSink(filepath.Join(dir, "v.ivf"), VP8)
	if err != nil {
		t.Fatal(err)
	}
	frames := vp8Frames()
	var in []ivfFrame
	for i, f := range frames {
		in = append(in, ivfFrame{data: f, pts: uint64(i)})
	}
	vsrc, err := OpenIVFWith(writeFile(t, "in.ivf", ivfBytes("VP80", 30, 1, in)), FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range readAll(t, vsrc, 1000) {
		if err := ivf.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	vsrc.Close()
	got, err := OpenIVFWith(filepath.Join(dir, "v.ivf"), FileOptions{NoPacing: true})
	if err != nil {
		t.Fatalf("unclosed IVF recording: %v", err)
	}
	defer got.Close()
	n := 0
	for _, p := range readAll(t, got, 1000) {
		if p.Marker {
			n++
		}
	}
	// The last frame may still wait in the reorder buffer; the others are
	// on disk.
	if n < len(frames)-1 {
		t.Errorf("unclosed IVF recording plays %d frames, want at least %d", n, len(frames)-1)
	}
	ivf.Close()
}

// TestCheckSinkUnknownExtension: a name with an extension Parley does not
// record is refused before the call, unless a directory of that name
// exists (the new user's review: --record out.mp3 made a directory
// out.mp3/ and recorded into it).
func TestCheckSinkUnknownExtension(t *testing.T) {
	dir := t.TempDir()
	if err := CheckSink(filepath.Join(dir, "out.mp3")); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), ".wav for PCMU") {
		t.Fatalf("CheckSink(out.mp3) = %v, want ErrBadSpec naming the formats", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "calls.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{filepath.Join(dir, "calls.d"), filepath.Join(dir, "recordings"), filepath.Join(dir, "x.WAV")} {
		if err := CheckSink(ok); err != nil {
			t.Errorf("CheckSink(%s) = %v", ok, err)
		}
	}
}

// TestCheckSinkSiblingExists: a recording asked for as call.ogg goes to
// call.wav when the stream is PCMU, so an existing call.wav refuses the
// target before the call (new-user review: the second `call --record
// call.ogg` with the tone connected, exited 0 and recorded nothing).
func TestCheckSinkSiblingExists(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "call.ogg")
	if err := CheckSink(spec); err != nil {
		t.Fatalf("CheckSink(%s) with nothing there = %v", spec, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "call.wav"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckSink(spec); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "call.wav") {
		t.Fatalf("CheckSink(%s) with call.wav there = %v, want ErrExists naming call.wav", spec, err)
	}
}
