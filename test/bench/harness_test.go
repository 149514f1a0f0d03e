package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
)

func TestParseUclientLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		line       string
		sent, recv uint64
		ok         bool
	}{
		{"progress", "12: : start_mclient: msz=50, tot_send_msgs=21530, tot_recv_msgs=21510, tot_send_bytes ~ 3444800, tot_recv_bytes ~ 3441600",
			21530, 21510, true},
		{"final", "6: : start_mclient: tot_send_msgs=200, tot_recv_msgs=199", 200, 199, true},
		{"zero", "1: : start_mclient: msz=2, tot_send_msgs=0, tot_recv_msgs=0, tot_send_bytes ~ 0, tot_recv_bytes ~ 0", 0, 0, true},
		{"bytes line", "6: : start_mclient: tot_send_bytes ~ 32000, tot_recv_bytes ~ 32000", 0, 0, false},
		{"other", "6: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)", 0, 0, false},
		{"no number", "start_mclient: tot_send_msgs=, tot_recv_msgs=3", 0, 0, false},
		{"overflow", "start_mclient: tot_send_msgs=99999999999999999999999, tot_recv_msgs=3", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r, ok := parseUclientLine(tt.line)
			if s != tt.sent || r != tt.recv || ok != tt.ok {
				t.Errorf("parseUclientLine = %d, %d, %v; want %d, %d, %v", s, r, ok, tt.sent, tt.recv, tt.ok)
			}
		})
	}
}

// FuzzParseUclientLine: any line parses without panicking, and what it
// reads comes back the same from the line's canonical form.
func FuzzParseUclientLine(f *testing.F) {
	f.Add("12: : start_mclient: msz=50, tot_send_msgs=21530, tot_recv_msgs=21510, tot_send_bytes ~ 3444800")
	f.Add("6: : start_mclient: tot_send_msgs=200, tot_recv_msgs=199")
	f.Add("start_mclient: tot_recv_msgs=1tot_send_msgs=2")
	f.Fuzz(func(t *testing.T, line string) {
		s, r, ok := parseUclientLine(line)
		if !ok {
			if s != 0 || r != 0 {
				t.Fatalf("not ok but %d, %d", s, r)
			}
			return
		}
		canon := fmt.Sprintf("0: : start_mclient: tot_send_msgs=%d, tot_recv_msgs=%d", s, r)
		s2, r2, ok2 := parseUclientLine(canon)
		if !ok2 || s2 != s || r2 != r {
			t.Fatalf("round trip %q → %d, %d, %v; want %d, %d", canon, s2, r2, ok2, s, r)
		}
	})
}

func TestCountAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cs := []uclientCount{{at(1), 100, 90}, {at(2), 200, 190}, {at(4), 400, 390}}
	tests := []struct {
		name       string
		t          time.Time
		sent, recv float64
		ok         bool
	}{
		{"on a line", at(2), 200, 190, true},
		{"between lines", at(3), 300, 290, true},
		{"before the first: ramp from zero a second before", at(0.5), 50, 45, true},
		{"long before the first", at(-5), 0, 0, true},
		{"after the last", at(5), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r, ok := countAt(cs, tt.t)
			if ok != tt.ok || math.Abs(s-tt.sent) > 1e-9 || math.Abs(r-tt.recv) > 1e-9 {
				t.Errorf("countAt = %v, %v, %v; want %v, %v, %v", s, r, ok, tt.sent, tt.recv, tt.ok)
			}
		})
	}
	if _, _, ok := countAt(nil, t0); ok {
		t.Error("countAt of no lines: ok")
	}
}

func TestParseStatusMem(t *testing.T) {
	t.Parallel()
	status := "Name:\tparleyd\nVmPeak:\t 1000 kB\nVmRSS:\t   31744 kB\nRssAnon:\t    5734 kB\nRssFile:\t   26010 kB\n"
	tests := []struct {
		name       string
		in         string
		rss, anon  int
		wantErrFmt bool
	}{
		{"both", status, 31744, 5734, false},
		{"no anon", "VmRSS:\t 10 kB\n", 0, 0, true},
		{"garbage", "VmRSS:\t x kB\nRssAnon:\t 1 kB\n", 0, 0, true},
		{"empty value", "VmRSS:\nRssAnon:\t 1 kB\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, anon, err := parseStatusMem([]byte(tt.in))
			if tt.wantErrFmt {
				if !errors.Is(err, ErrStatFormat) {
					t.Fatalf("err = %v, want ErrStatFormat", err)
				}
				return
			}
			if err != nil || rss != tt.rss || anon != tt.anon {
				t.Fatalf("parseStatusMem = %d, %d, %v; want %d, %d", rss, anon, err, tt.rss, tt.anon)
			}
		})
	}
}

func TestReplaceGenerated(t *testing.T) {
	t.Parallel()
	doc := "# Performance\n\nprose before\n\n" + beginMarker + "\nold tables\n" + endMarker + "\n\nprose after\n"
	got, err := replaceGenerated([]byte(doc), []byte("\n| new | table |\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# Performance\n\nprose before\n\n" + beginMarker + "\n\n| new | table |\n\n" + endMarker + "\n\nprose after\n"
	if string(got) != want {
		t.Errorf("replaceGenerated =\n%s\nwant\n%s", got, want)
	}
	// Running it again on its own output gives the same document.
	again, err := replaceGenerated(got, []byte("| new | table |"))
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("second replace changed the document: %v\n%s", err, again)
	}
	for name, bad := range map[string]string{
		"no markers": "# Performance\n",
		"no end":     beginMarker + "\n",
		"reversed":   endMarker + "\n" + beginMarker + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := replaceGenerated([]byte(bad), []byte("x")); !errors.Is(err, ErrNoMarkers) {
				t.Errorf("err = %v, want ErrNoMarkers", err)
			}
		})
	}
}

func TestParseDHTSizes(t *testing.T) {
	t.Parallel()
	def := 2 * time.Second
	tests := []struct {
		in      string
		want    []dhtSize
		wantErr bool
	}{
		{"20,50,100", []dhtSize{{20, def}, {50, def}, {100, def}}, false},
		{"100,100@50ms", []dhtSize{{100, def}, {100, 50 * time.Millisecond}}, false},
		{"3", nil, true},
		{"x", nil, true},
		{"10@", nil, true},
		{"10@-1s", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDHTSizes(tt.in, def)
			if (err != nil) != tt.wantErr || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseDHTSizes(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestPrintRelay: rows are compared with coturn's row of the same load,
// and the goals are judged on parley-bootstrap's rows only.
func TestPrintRelay(t *testing.T) {
	t.Parallel()
	a := relayLoad{"VoIP", 50, 160, 20 * time.Millisecond}
	b := relayLoad{"flood", 10, 160, 0}
	tests := []struct {
		name string
		rows []relayResult
		want []string
	}{
		{"met", []relayResult{
			{load: a, server: "coturn 4.6.1", cpuPerPkt: 8, loss: 0.001},
			{load: a, server: "parley-bootstrap", cpuPerPkt: 6, loss: 0.001},
			{load: b, server: "coturn 4.6.1", cpuPerPkt: 3, loss: 0.1},
			{load: b, server: "parley-bootstrap", cpuPerPkt: 3, loss: 0.05},
		}, []string{"0.75×", "1.00×", "every row: **met** (worst 1.00×)", "noise): **met** (worst +0.00 points)"}},
		{"cpu and loss not met", []relayResult{
			{load: a, server: "coturn 4.6.1", cpuPerPkt: 8, loss: 0},
			{load: a, server: "parley-bootstrap", cpuPerPkt: 12, loss: 0.02},
			{load: a, server: "turnsrv alone", cpuPerPkt: 1, loss: 0},
		}, []string{"1.50×", "0.12×", "**not met** (worst 1.50×)", "noise): **not met** (worst +2.00 points)"}},
		{"no coturn reading", []relayResult{
			{load: a, server: "coturn 4.6.1", cpuPerPkt: 0},
			{load: a, server: "parley-bootstrap", cpuPerPkt: 50},
		}, []string{"Goals not judged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printRelay(&b, relayOptions{window: time.Second}, tt.rows)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestStunPingTimesOut(t *testing.T) {
	t.Parallel()
	port, err := freeTURNPort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := stunPing(fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond); err == nil {
		t.Fatal("stun ping of a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stun ping took %v", d)
	}
}

// TestStunPing pings bootstrap/turnsrv (in process) and gets its answer.
func TestStunPing(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := turnsrv.New(turnsrv.Config{
		Secret: []byte("0123456789abcdef"), RelayIP: net.IPv4(127, 0, 0, 1), PacketConns: []net.PacketConn{pc},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	defer s.Close()
	if err := stunPing(pc.LocalAddr().String(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestJudgeHostile: a flood plateaus when what the target keeps stays
// within the cap and its heap stops growing.
func TestJudgeHostile(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	rows := func(cap float64, heaps ...float64) []hostileRow {
		var out []hostileRow
		for i, h := range heaps {
			out = append(out, hostileRow{attempts: i * 10_000, kept: min(float64(i*40), cap), mem: memSample{heap: h * mib}})
		}
		return out
	}
	tests := []struct {
		name string
		rows []hostileRow
		cap  float64
		want string
	}{
		{"grows to the cap, then flat", rows(32, 5, 40, 41, 42, 41), 32, verdictPlateau},
		{"keeps growing", rows(32, 5, 40, 80, 120, 160), 32, verdictGrows},
		{"noise within the slack", rows(32, 5, 6, 5, 8, 9), 32, verdictPlateau},
		{"kept over the cap", append(rows(32, 5, 6), hostileRow{kept: 33}), 32, verdictOverCap},
		{"nothing may be kept", []hostileRow{{}, {kept: 1}}, 0, verdictOverCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(tt.rows, tt.cap); got != tt.want {
				t.Errorf("judge = %s, want %s", got, tt.want)
			}
		})
	}
	var b bytes.Buffer
	r := rows(32, 5, 40, 41)
	r[len(r)-1].verdict = verdictPlateau
	printHostile(&b, r)
	if !strings.Contains(b.String(), "| +35.0 MiB |") || !strings.Contains(b.String(), "| plateaus |") {
		t.Errorf("table:\n%s", b.String())
	}
}
