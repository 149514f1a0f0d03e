package calltransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
)

func TestNewCredentials(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		u, p := NewCredentials()
		if len(u) != ufragLen || len(p) != pwdLen {
			t.Fatalf("lengths %d, %d", len(u), len(p))
		}
		if err := validateCredentials(u, p); err != nil {
			t.Fatalf("NewCredentials gave invalid %q: %v", u, err)
		}
		if seen[u] || seen[p] {
			t.Fatal("repeated credential")
		}
		seen[u], seen[p] = true, true
	}
}

func TestValidateCredentials(t *testing.T) {
	pwd := strings.Repeat("a", 22)
	tests := []struct {
		name, ufrag, pwd string
		ok               bool
	}{
		{"minimal", "abcd", pwd, true},
		{"all ice-chars", "aZ09+/", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", true},
		{"ufrag too short", "abc", pwd, false},
		{"pwd too short", "abcd", pwd[:21], false},
		{"ufrag too long", strings.Repeat("a", 257), pwd, false},
		{"pwd too long", "abcd", strings.Repeat("a", 257), false},
		{"colon in ufrag", "ab:cd", pwd, false},
		{"space in pwd", "abcd", pwd[:21] + " ", false},
		{"non-ASCII", "abcdé", pwd, false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateCredentials(tt.ufrag, tt.pwd)
			if (err == nil) != tt.ok {
				t.Fatalf("validateCredentials = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("error %v is not ErrBadCredentials", err)
			}
		})
	}
}

func TestConfigResolve(t *testing.T) {
	turn := ICEServer{URL: "turn:127.0.0.1:3478?transport=tcp", Username: "1:dev", Password: "secret-pass"}
	tests := []struct {
		name  string
		cfg   Config
		want  error
		check func(t *testing.T, r resolved)
	}{
		{"defaults", Config{}, nil, func(t *testing.T, r resolved) {
			if r.CheckInterval != DefaultCheckInterval || r.RelayAcceptanceWait != DefaultRelayAcceptanceWait ||
				r.MaxBindingRequests != DefaultMaxBindingRequests || r.KeepaliveInterval != DefaultKeepaliveInterval ||
				r.DisconnectedTimeout != DefaultDisconnectedTimeout || r.FailedTimeout != DefaultFailedTimeout ||
				r.RenominationInterval != DefaultRenominationInterval || r.ReportInterval != DefaultReportInterval ||
				r.HostAcceptanceWait != 0 || r.SrflxAcceptanceWait != 0 || r.PrflxAcceptanceWait != 0 {
				t.Errorf("defaults not applied: %+v", r.Config)
			}
			if r.LocalUfrag == "" || r.LocalPwd == "" || r.Logger == nil {
				t.Error("credentials or logger not filled in")
			}
		}},
		{"relay only waits 0", Config{RelayOnly: true, Servers: []ICEServer{turn}}, nil, func(t *testing.T, r resolved) {
			if r.RelayAcceptanceWait != 0 || len(r.urls) != 1 || r.urls[0].Password != turn.Password {
				t.Errorf("RelayAcceptanceWait %v, urls %v", r.RelayAcceptanceWait, r.urls)
			}
			if len(r.secrets) != 2 || r.secrets[1] != turn.Password {
				t.Errorf("TURN password not among the secrets to scrub")
			}
		}},
		{"negative turns off", Config{RelayAcceptanceWait: -1, FailedTimeout: -1, RenominationInterval: -1, HostAcceptanceWait: -5}, nil,
			func(t *testing.T, r resolved) {
				if r.RelayAcceptanceWait != 0 || r.FailedTimeout != 0 || r.RenominationInterval != 0 || r.HostAcceptanceWait != 0 {
					t.Errorf("negative values not mapped to 0: %+v", r.Config)
				}
			}},
		{"explicit values kept", Config{CheckInterval: 5 * time.Millisecond, MaxBindingRequests: 9}, nil, func(t *testing.T, r resolved) {
			if r.CheckInterval != 5*time.Millisecond || r.MaxBindingRequests != 9 {
				t.Errorf("explicit values changed: %+v", r.Config)
			}
		}},
		{"relay only without TURN", Config{RelayOnly: true, Servers: []ICEServer{{URL: "stun:127.0.0.1"}}}, ErrBadConfig, nil},
		{"bad URL", Config{Servers: []ICEServer{{URL: "http://example.com"}}}, ErrBadServer, nil},
		{"TURN without password", Config{Servers: []ICEServer{{URL: "turn:127.0.0.1", Username: "u"}}}, ErrBadServer, nil},
		{"bad local ufrag", Config{LocalUfrag: "a:b", LocalPwd: strings.Repeat("p", 22)}, ErrBadConfig, nil},
		{"only one credential", Config{LocalUfrag: "abcd"}, ErrBadConfig, nil},
		{"max binding requests", Config{MaxBindingRequests: 5000}, ErrBadConfig, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.cfg.resolve()
			if !errors.Is(err, tt.want) {
				t.Fatalf("resolve: %v, want %v", err, tt.want)
			}
			if err == nil && tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestNewLegErrors(t *testing.T) {
	if _, err := NewLeg(Config{Servers: []ICEServer{{URL: "turn:127.0.0.1"}}, Logger: discard()}); !errors.Is(err, ErrBadServer) {
		t.Errorf("NewLeg: %v, want ErrBadServer", err)
	}
}

func TestStartErrors(t *testing.T) {
	l, err := NewLeg(Config{Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4})
	if err != nil {
		t.Fatal(err)
	}
	u, p := NewCredentials()
	if err := l.Start(t.Context(), "x", p); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("Start with bad ufrag: %v, want ErrBadCredentials", err)
	}
	if err := l.Start(t.Context(), u, p); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := l.Start(t.Context(), u, p); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v, want ErrAlreadyStarted", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Start(t.Context(), u, p); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := l.WaitConnected(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitConnected after Close: %v, want ErrClosed", err)
	}
	if err := l.AddRemoteCandidate("1 1 udp 1 127.0.0.1 9 typ host"); !errors.Is(err, ErrClosed) {
		t.Errorf("AddRemoteCandidate after Close: %v, want ErrClosed", err)
	}
	if p := l.Path(); p != (Path{}) {
		t.Errorf("Path after Close = %+v", p)
	}
}

// TestSetupAborted: a peer that never answers, and the Start context ends.
func TestSetupAborted(t *testing.T) {
	l, err := NewLeg(Config{Controlling: true, Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	u, p := NewCredentials()
	if err := l.Start(ctx, u, p); err != nil {
		t.Fatal(err)
	}
	// A candidate nobody listens on, so checks run and fail slowly.
	if err := l.AddRemoteCandidate("candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"); err != nil {
		t.Fatal(err)
	}
	wait, waitCancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer waitCancel()
	if err := l.WaitConnected(wait); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected with no peer: %v, want deadline exceeded", err)
	}
	cancel()
	err = l.WaitConnected(t.Context())
	if !errors.Is(err, ErrFailed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitConnected after Start ctx ended: %v, want ErrFailed and context.Canceled", err)
	}
}

// TestICEFails: with short timeouts and nobody answering, the leg fails
// on its own and WaitConnected says so.
func TestICEFails(t *testing.T) {
	l, err := NewLeg(Config{
		Controlling: true, Logger: discard(), IncludeLoopback: true, IPFilter: loopbackV4,
		DisconnectedTimeout: 100 * time.Millisecond, FailedTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, p := NewCredentials()
	if err := l.Start(t.Context(), u, p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := l.WaitConnected(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitConnected: %v, want ErrFailed", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	markers := []string{"calltransport.(*", "calltransport.collect", "pion/ice/v4.", "pion/turn/v5/internal/client"}
	func() {
		ts := startTURN(t, nil)
		p := newLegPair(t, func(c *Config) {
			c.Servers = []ICEServer{ts.turnServer("udp", "dev")}
			c.ReportInterval = 10 * time.Millisecond
		})
		p.start()
		p.waitConnected(10 * time.Second)
		ma, mb := p.startMedia()
		_ = collect(mb)
		if err := ma.WriteRTP(testPacket(1, 1, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		for _, l := range []*Leg{p.a, p.b} {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}()
	// Close waits for the leg's goroutines; pion's per-candidate helpers
	// may take a moment longer to unwind.
	waitFor(t, 5*time.Second, "goroutines to end", func() error {
		if g := test.GoroutinesMatching(markers...); len(g) > 0 {
			return fmt.Errorf("%d left, first:\n%s", len(g), g[0])
		}
		return nil
	})
}

// TestSecretsNotLogged runs a call with the most verbose logging and
// checks that no ICE or TURN password appears in the logs.
func TestSecretsNotLogged(t *testing.T) {
	ts := startTURN(t, nil)
	logger, lb := newTestLogger(t)
	var secrets []string
	p := newLegPair(t, func(c *Config) {
		c.Servers = []ICEServer{ts.turnServer("udp", "dev")}
		c.Logger = logger.With("leg", c.Controlling)
		c.LocalUfrag, c.LocalPwd = NewCredentials()
		secrets = append(secrets, c.LocalPwd, c.Servers[0].Password)
	})
	p.start()
	p.waitConnected(10 * time.Second)
	log := lb.String()
	if !strings.Contains(log, "remotePwd") {
		t.Fatal("pion's debug line with the remote password was not logged; test is not testing anything")
	}
	for i, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("secret #%d found in logs", i)
		}
	}
}

// TestICEStatesAtDebug: at the default level a connected leg logs its
// selected path, not every ICE state change (issue 16 item 15).
func TestICEStatesAtDebug(t *testing.T) {
	lb := new(test.SyncBuffer)
	info := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := newLegPair(t, func(c *Config) { c.Logger = info.With("leg", c.Controlling) })
	p.start()
	p.waitConnected(10 * time.Second)
	log := lb.String()
	if !strings.Contains(log, "selected path") {
		t.Fatalf("no selected path at Info:\n%s", log)
	}
	if strings.Contains(log, "ICE state") {
		t.Errorf("ICE state changes logged at Info:\n%s", log)
	}
}

// TestLegRestart: an ICE restart on both legs of a connected call gives
// them new credentials and a new pair, and the same Media objects carry
// packets again afterwards, with the sequence numbers (and SRTP indexes)
// going on from where they were: the keys stay, nothing is reused.
func TestLegRestart(t *testing.T) {
	p := newLegPair(t, nil)
	if err := p.a.Restart("", "", nil); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Restart before Start = %v, want ErrNotStarted", err)
	}
	p.start()
	p.waitConnected(10 * time.Second)
	ma, mb := p.startMedia()
	got := collect(mb)
	for i := range 5 {
		if err := ma.WriteRTP(testPacket(1, uint16(i), []byte("before"))); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, got, 5, 5*time.Second)
	oldA, _ := p.a.LocalCredentials()
	oldB, _ := p.b.LocalCredentials()

	restarted := make(chan error, 1)
	err := p.a.Restart("", "", func(au, ap string) {
		// The peer answers the restart: it restarts with a's new
		// credentials and hands its own back.
		restarted <- p.b.Restart(au, ap, func(bu, bp string) {
			if err := p.a.SetRemoteCredentials(bu, bp); err != nil {
				t.Errorf("SetRemoteCredentials: %v", err)
			}
		})
	})
	if err != nil {
		t.Fatalf("a.Restart: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("b.Restart: %v", err)
	}
	if u, _ := p.a.LocalCredentials(); u == oldA {
		t.Error("a kept its ufrag across the restart")
	}
	if u, _ := p.b.LocalCredentials(); u == oldB {
		t.Error("b kept its ufrag across the restart")
	}
	// Writes fail until the new pair is selected; keep sending until b
	// has the packets of after the restart.
	seq := uint16(5)
	waitFor(t, 10*time.Second, "media after the restart", func() error {
		_ = ma.WriteRTP(testPacket(1, seq, []byte("after")))
		seq++
		select {
		case pk := <-got:
			if string(pk.Payload) == "after" {
				return nil
			}
		default:
		}
		return errors.New("no packet yet")
	})
	if p.a.Path().Local == "" || p.b.Path().Local == "" {
		t.Errorf("no path after the restart: %+v / %+v", p.a.Path(), p.b.Path())
	}
	if st := mb.Stats(); st.Dropped.Replayed != 0 || st.Dropped.AuthFailed != 0 || st.LastReceived.IsZero() {
		t.Errorf("after the restart: %+v", st)
	}
	if err := p.a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Restart("", "", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Restart after Close = %v, want ErrClosed", err)
	}
}
