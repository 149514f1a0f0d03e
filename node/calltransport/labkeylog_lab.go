//go:build parleylab

package calltransport

import (
	"fmt"
	"os"
	"sync"

	"github.com/pion/srtp/v3"
)

// labKeyLogEnv names the file a NAT-lab build appends each leg's SRTP keys
// to. The lab needs the real keys to show that no byte of them crosses a
// bootstrap server (test/natlab, TestServersSeeNoSecrets). The code exists
// only in binaries built with -tags parleylab, so release builds cannot
// write keys anywhere whatever their environment says.
const labKeyLogEnv = "PARLEY_LAB_SRTP_KEYLOG"

var labKeyLogMu sync.Mutex

// labKeyLog appends one line per started media session:
//
//	SRTP profile=P local_key=HEX local_salt=HEX remote_key=HEX remote_salt=HEX
func labKeyLog(k Keys, p srtp.ProtectionProfile) {
	path := os.Getenv(labKeyLogEnv)
	if path == "" {
		return
	}
	labKeyLogMu.Lock()
	defer labKeyLogMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintf(f, "SRTP profile=%d local_key=%x local_salt=%x remote_key=%x remote_salt=%x\n",
		p, k.LocalKey, k.LocalSalt, k.RemoteKey, k.RemoteSalt)
}
