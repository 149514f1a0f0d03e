package store_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// crashRounds is how many times TestCrashSafety kills a writer.
const crashRounds = 30

// crashContactID names contact i written in round r.
func crashContactID(round, i int) crypto.AccountID {
	return storetest.Account(fmt.Sprintf("r%03d-c%06d", round, i))
}

// crashContact is contact i of round r. Message sizes vary so that commits
// split and grow pages, not only rewrite one.
func crashContact(round, i int) store.Contact {
	return store.Contact{
		AccountID: crashContactID(round, i),
		Name:      "n" + strconv.Itoa(i),
		State:     store.Accepted,
		Message:   strings.Repeat("m", (i*97+round*31)%1024),
	}
}

// TestCrashHelper is not a test: TestCrashSafety runs it in a child
// process, where it writes contacts forever, printing "committed i" after
// each PutContact returns, until it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(envHelperDir)
	round, err := strconv.Atoi(os.Getenv(envHelperRound))
	if dir == "" || err != nil {
		t.Skip("helper process only")
	}
	s, err := store.Open(dir, &store.Options{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		os.Exit(1)
	}
	// Bounded so a child whose parent vanished cannot run forever (it also
	// dies of SIGPIPE on its first write after the parent is gone).
	for i := range 1_000_000 {
		if err := s.PutContact(crashContact(round, i)); err != nil {
			fmt.Fprintf(os.Stderr, "put %d: %v\n", i, err)
			os.Exit(1)
		}
		// os.Stdout is unbuffered: this is one write(2) per line.
		fmt.Printf("committed %d\n", i)
	}
	os.Exit(0)
}

// TestCrashSafety kills a writer process with SIGKILL at random moments,
// many times on one data dir, and checks after each kill that every commit
// the writer reported is there and the file is consistent.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	dir := t.TempDir()
	committed := make([]int, crashRounds) // per round: how many contacts were reported
	start := time.Now()

	for round := range crashRounds {
		// Kill after 0–60 reported commits (0: possibly while opening), plus
		// a jitter of up to 3ms so the kill lands at varying points of the
		// next commit.
		target := rng.IntN(61)
		jitter := time.Duration(rng.IntN(3000)) * time.Microsecond
		c := startChild(t, "TestCrashHelper", envHelperDir+"="+dir, envHelperRound+"="+strconv.Itoa(round))

		n := 0
		deadline := time.Now().Add(30 * time.Second)
		for n < target {
			line, ok := c.waitLine("committed ", deadline)
			if !ok {
				t.Fatalf("round %d: child stopped after %d commits; stderr:\n%s", round, n, c.stderr)
			}
			if line != fmt.Sprintf("committed %d", n) {
				t.Fatalf("round %d: child said %q, want committed %d", round, line, n)
			}
			n++
		}
		time.Sleep(jitter) // not a wait for state: a random kill moment
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Lines already in the pipe were printed after their commit.
		for line := range c.lines {
			if line == fmt.Sprintf("committed %d", n) {
				n++
			}
		}
		c.cmd.Wait() // error is "signal: killed"
		committed[round] = n

		verifyAfterCrash(t, dir, round, committed)
	}
	total := 0
	for _, n := range committed {
		total += n
	}
	t.Logf("%d rounds, %d reported commits, %v", crashRounds, total, time.Since(start).Round(time.Millisecond))
}

// verifyAfterCrash reopens the store after round was killed and checks it.
func verifyAfterCrash(t *testing.T, dir string, round int, committed []int) {
	t.Helper()
	s, err := store.Open(dir, &store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("round %d: Check after kill: %v", round, err)
	}
	cs, err := s.Contacts()
	if err != nil {
		t.Fatalf("round %d: Contacts after kill: %v", round, err)
	}
	have := make(map[crypto.AccountID]store.Contact, len(cs))
	for _, c := range cs {
		have[c.AccountID] = c
	}
	for r := 0; r <= round; r++ {
		for i := range committed[r] {
			c, ok := have[crashContactID(r, i)]
			if !ok {
				t.Fatalf("round %d: reported commit %d of round %d is missing", round, i, r)
			}
			want := crashContact(r, i)
			if c.Name != want.Name || c.Message != want.Message || c.State != want.State {
				t.Fatalf("round %d: contact %s has wrong content", round, c.AccountID)
			}
		}
		// At most one commit beyond the last reported one may have landed
		// (done, but killed before it printed); never a gap or more.
		if _, ok := have[crashContactID(r, committed[r]+1)]; ok {
			t.Fatalf("round %d: contact %d of round %d exists but only %d were reported",
				round, committed[r]+1, r, committed[r])
		}
	}
}
