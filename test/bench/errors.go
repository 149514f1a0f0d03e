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
