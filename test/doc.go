// Package test holds helpers shared by Parley's tests (polling with a
// deadline, building the real binaries) and repository-wide checks.
package test
