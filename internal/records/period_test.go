package records

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPeriod(t *testing.T) {
	start := time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC)
	p := Period(start)
	if want := uint64(start.Unix() / 86400); p != want {
		t.Fatalf("Period = %d, want %d", p, want)
	}
	if !PeriodStart(p).Equal(start) || !PeriodEnd(p).Equal(start.Add(24*time.Hour)) {
		t.Fatalf("period %d runs %v to %v", p, PeriodStart(p), PeriodEnd(p))
	}
	// Time zones do not matter: the same instant is the same period.
	if Period(start.In(time.FixedZone("UTC+14", 14*3600))) != p {
		t.Error("period depends on the time zone")
	}
	if Period(time.Unix(-1, 0)) != 0 || Period(time.Unix(0, 0)) != 0 {
		t.Error("times before 1970 are not period 0")
	}
	for _, tc := range []struct {
		at              time.Duration // after start
		publish, lookup []uint64
	}{
		{-time.Nanosecond, []uint64{p - 1, p}, []uint64{p - 1, p}},
		{0, []uint64{p}, []uint64{p, p - 1}},
		{time.Hour - time.Nanosecond, []uint64{p}, []uint64{p, p - 1}},
		{time.Hour, []uint64{p}, []uint64{p}},
		{12 * time.Hour, []uint64{p}, []uint64{p}},
		{23*time.Hour - time.Nanosecond, []uint64{p}, []uint64{p}},
		{23 * time.Hour, []uint64{p, p + 1}, []uint64{p, p + 1}},
		{24*time.Hour - time.Nanosecond, []uint64{p, p + 1}, []uint64{p, p + 1}},
		{24 * time.Hour, []uint64{p + 1}, []uint64{p + 1, p}},
	} {
		now := start.Add(tc.at)
		if got := PublishPeriods(now); !slices.Equal(got, tc.publish) {
			t.Errorf("PublishPeriods(start%+v) = %v, want %v", tc.at, got, tc.publish)
		}
		if got := LookupPeriods(now); !slices.Equal(got, tc.lookup) {
			t.Errorf("LookupPeriods(start%+v) = %v, want %v", tc.at, got, tc.lookup)
		}
	}
	if got := LookupPeriods(time.Unix(0, 0)); !slices.Equal(got, []uint64{0}) {
		t.Errorf("LookupPeriods(epoch) = %v", got)
	}
}

// TestBlindBoundary: around a period boundary, with clocks up to
// PeriodOverlap apart, what a publisher publishes is what a reader looks
// up, and the DHT server (ClockSkew from the publisher) stores it.
func TestBlindBoundary(t *testing.T) {
	a, inner, _ := blindFix(t)
	pub := a.key.Public()
	end := PeriodEnd(testPeriod)
	records := map[uint64][]byte{}
	// The publisher publishes from an hour before the boundary.
	for _, now := range []time.Time{end.Add(-2 * time.Hour), end.Add(-PeriodOverlap)} {
		for _, p := range PublishPeriods(now) {
			rec, err := NewBlindAccount(a.key, inner, p, uint64(now.UnixMilli()), now)
			if err != nil {
				t.Fatalf("publish period %d at boundary%v: %v", p, now.Sub(end), err)
			}
			records[p] = rec
		}
	}
	if len(records) != 2 {
		t.Fatalf("published periods %v, want this and the next", records)
	}
	// Readers whose clocks are off by up to (not including) PeriodOverlap
	// either way, at true times around the boundary, find a record.
	for _, trueAt := range []time.Duration{-PeriodOverlap + time.Second, -time.Minute, 0, time.Minute, PeriodOverlap - 2*time.Second} {
		for _, off := range []time.Duration{-PeriodOverlap + time.Second, 0, PeriodOverlap - time.Second} {
			now := end.Add(trueAt)
			found := false
			for _, p := range LookupPeriods(now.Add(off)) {
				if rec, ok := records[p]; ok {
					if _, err := OpenBlindAccount(pub, p, rec, now); err == nil {
						found = true
						break
					}
				}
			}
			if !found {
				t.Errorf("true time boundary%+v, reader clock %+v: nothing found", trueAt, off)
			}
		}
	}
	// A DHT server refuses the next period's record more than
	// PeriodOverlap + ClockSkew early, and the old one after it expired.
	next := mustBlindAccountKey(t, pub, testPeriod+1)
	if _, err := ParseBlindAccount(next, records[testPeriod+1], end.Add(-PeriodOverlap-ClockSkew-time.Second)); !errors.Is(err, ErrBadPeriod) {
		t.Errorf("early next-period record: %v", err)
	}
	if _, err := ParseBlindAccount(next, records[testPeriod+1], end.Add(-PeriodOverlap-ClockSkew)); err != nil {
		t.Errorf("next-period record within the skew: %v", err)
	}
	cur := mustBlindAccountKey(t, pub, testPeriod)
	if _, err := ParseBlindAccount(cur, records[testPeriod], end.Add(PeriodOverlap-time.Second)); err != nil {
		t.Errorf("old period's record in the overlap: %v", err)
	}
	if _, err := ParseBlindAccount(cur, records[testPeriod], end.Add(PeriodOverlap)); !errors.Is(err, ErrExpired) {
		t.Errorf("old period's record after the overlap: %v", err)
	}
}
