package main

import (
	"math"
	"slices"
	"time"
)

// summary describes a sample of durations.
type summary struct {
	n                     int
	median, p95, min, max time.Duration
}

// summarize computes the median (the mean of the two middle values for an
// even count), the nearest-rank 95th percentile, the minimum and the
// maximum of ds. It does not modify ds.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.95 * float64(n)))
	return summary{n: n, median: med, p95: s[max(rank, 1)-1], min: s[0], max: s[n-1]}
}

// ms is d in milliseconds, with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// mib is a size in KiB as MiB.
func mib(kib int) float64 { return float64(kib) / 1024 }

// verdict says whether a goal is met, for the tables.
func verdict(met bool) string {
	if met {
		return "**met**"
	}
	return "**not met**"
}
