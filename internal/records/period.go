package records

import (
	"fmt"
	"time"
)

// Blinded records (blinded.go) live under keys that change every period.
// A period is a UTC day: period p covers the Unix seconds
// [p·86400, (p+1)·86400), so it starts at 00:00 UTC on every node whatever
// its time zone, and every node with a correct clock switches at the same
// moment. Clocks are not all correct, so the switch is spread over
// PeriodOverlap on each side of a boundary:
//
//   - a publisher publishes the current period's records and, from
//     PeriodOverlap before the period ends, the next period's too
//     (PublishPeriods); a record lives at most until PeriodOverlap after
//     its period ends;
//   - a reader looks up the current period and, within PeriodOverlap of a
//     boundary, the neighbouring period on that side (LookupPeriods).
//
// So a reader whose clock is up to PeriodOverlap off (either way) still
// finds a record that a publisher with a correct clock published, and the
// other way round.

const (
	// PeriodLength is the length of a period: one day.
	PeriodLength = 24 * time.Hour
	// PeriodOverlap is how long before its period a record is published,
	// and how long after it a record stays valid.
	PeriodOverlap = time.Hour

	periodSeconds = int64(PeriodLength / time.Second)
)

// Period returns the period that t is in: the whole days since the Unix
// epoch, UTC. Times before 1970 are in period 0.
func Period(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s / periodSeconds)
}

// PeriodStart returns when period p starts.
func PeriodStart(p uint64) time.Time {
	return time.Unix(int64(p)*periodSeconds, 0).UTC()
}

// PeriodEnd returns when period p ends: when p+1 starts.
func PeriodEnd(p uint64) time.Time { return PeriodStart(p + 1) }

// PublishPeriods returns the periods a publisher publishes blinded records
// for at now: the current one, and the next one from PeriodOverlap before
// the current one ends.
func PublishPeriods(now time.Time) []uint64 {
	p := Period(now)
	if !now.Before(PeriodEnd(p).Add(-PeriodOverlap)) {
		return []uint64{p, p + 1}
	}
	return []uint64{p}
}

// LookupPeriods returns the periods a reader looks a blinded record up in
// at now, the current one first: the current period, the previous one
// within PeriodOverlap after the current one started, and the next one
// within PeriodOverlap before it ends.
func LookupPeriods(now time.Time) []uint64 {
	p := Period(now)
	out := []uint64{p}
	if now.Before(PeriodStart(p).Add(PeriodOverlap)) && p > 0 {
		out = append(out, p-1)
	}
	if !now.Before(PeriodEnd(p).Add(-PeriodOverlap)) {
		out = append(out, p+1)
	}
	return out
}

// checkPeriod reports whether a blinded record of period p expiring at
// expires may be stored at now: its period has started, or starts within
// PeriodOverlap (plus ClockSkew), and it expires at most PeriodOverlap
// (plus ClockSkew) after the period ends. That it has not expired yet is
// checked with the header.
func checkPeriod(p uint64, expires, now time.Time) error {
	if p > Period(now)+1 {
		// Also keeps PeriodStart from overflowing.
		return fmt.Errorf("%w: period %d starts after the next one (%d)", ErrBadPeriod, p, Period(now)+1)
	}
	if early := PeriodStart(p).Add(-PeriodOverlap - ClockSkew); now.Before(early) {
		return fmt.Errorf("%w: period %d may be published from %v", ErrBadPeriod, p, early)
	}
	if limit := PeriodEnd(p).Add(PeriodOverlap + ClockSkew); expires.After(limit) {
		return fmt.Errorf("%w: %v is after the end of period %d plus %v", ErrExpiryTooFar, expires.UTC(), p, PeriodOverlap+ClockSkew)
	}
	return nil
}
