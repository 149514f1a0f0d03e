package main

import "errors"

// ErrStatFormat is returned for a /proc/PID/stat line that cannot be read.
var ErrStatFormat = errors.New("unexpected /proc/PID/stat format")

// ErrBenchOutput is returned when `go test -bench` output lacks a result
// the bench needs.
var ErrBenchOutput = errors.New("benchmark result missing")

// ErrCallEnded is returned when a benchmarked call ends before it reached
// the state being waited for.
var ErrCallEnded = errors.New("call ended early")

// ErrCoturnMissing is returned when coturn's binaries are not installed
// and cannot be.
var ErrCoturnMissing = errors.New("coturn is not installed")

// ErrNoProgress is returned when a load generator never reaches its pace.
var ErrNoProgress = errors.New("load did not reach its pace")

// ErrGoalMissed is returned by the smoke run when a part produced no
// usable measurement.
var ErrGoalMissed = errors.New("no usable measurement")

// ErrNoMarkers is returned by -write when docs/performance.md lacks the
// markers around its generated part.
var ErrNoMarkers = errors.New("generated-part markers not found")
