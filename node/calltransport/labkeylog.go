//go:build !parleylab

package calltransport

import "github.com/pion/srtp/v3"

// labKeyLog does nothing: only binaries built with -tags parleylab (the NAT
// lab's) can record SRTP keys; see labkeylog_lab.go.
func labKeyLog(Keys, srtp.ProtectionProfile) {}
