// Package test is the testing.TB side of Parley's test harness: WaitFor
// (over package wait), Procs (a process group whose processes stop when
// the test ends and whose output is logged only if it failed, over
// package proc), BuildBinaries and Exec (over package daemon and proc),
// loggers and goroutine checks; and repository-wide checks.
package test
