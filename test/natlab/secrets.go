package natlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleyhq/parley/node/media"
)

// toneWindow is how many consecutive payload bytes count as "the tone in
// clear". Sixteen µ-law bytes are 2 ms of audio; random or encrypted bytes
// match one by chance with probability 2^-128 per position.
const toneWindow = 16

// tonePackets is how many packets of each tone the matcher learns: 60 s,
// longer than any lab call.
const tonePackets = 3000

// ToneMatcher finds the test tones' RTP payloads (G.711 µ-law, exactly as
// the daemons generate them) in captured bytes.
type ToneMatcher struct {
	windows map[[toneWindow]byte]float64
	// Payloads are the first payload of each tone, for positive controls.
	Payloads map[float64][]byte
}

// NewToneMatcher learns every toneWindow-byte window of the payloads of
// the first minute of each tone.
func NewToneMatcher(freqs ...float64) (*ToneMatcher, error) {
	m := &ToneMatcher{windows: map[[toneWindow]byte]float64{}, Payloads: map[float64][]byte{}}
	for _, f := range freqs {
		src, err := media.NewTone(f, media.ToneOptions{NoPacing: true})
		if err != nil {
			return nil, fmt.Errorf("natlab: tone %v Hz: %w", f, err)
		}
		for i := range tonePackets {
			p, err := src.ReadRTP(context.Background())
			if err != nil {
				return nil, fmt.Errorf("natlab: tone %v Hz: %w", f, err)
			}
			if i == 0 {
				m.Payloads[f] = p.Payload
			}
			for off := 0; off+toneWindow <= len(p.Payload); off++ {
				m.windows[[toneWindow]byte(p.Payload[off:off+toneWindow])] = f
			}
		}
		src.Close()
	}
	return m, nil
}

// Find returns the tone frequency and offset of the first window of b that
// is tone payload.
func (m *ToneMatcher) Find(b []byte) (freq float64, off int, ok bool) {
	for off = 0; off+toneWindow <= len(b); off++ {
		if f, hit := m.windows[[toneWindow]byte(b[off:off+toneWindow])]; hit {
			return f, off, true
		}
	}
	return 0, 0, false
}

// SRTPKeys is one line of a lab daemon's key log: the master keys and
// salts of one call leg, as the daemon used them.
type SRTPKeys struct {
	LocalKey, LocalSalt, RemoteKey, RemoteSalt []byte
}

// ReadKeyLog reads the SRTP key log a lab daemon writes (see BuildTag); a
// missing file means no call started media.
func ReadKeyLog(path string) ([]SRTPKeys, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natlab: key log: %w", err)
	}
	defer f.Close()
	return parseKeyLog(f)
}

func parseKeyLog(r io.Reader) ([]SRTPKeys, error) {
	var out []SRTPKeys
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "SRTP" {
			continue
		}
		var k SRTPKeys
		dst := map[string]*[]byte{"local_key": &k.LocalKey, "local_salt": &k.LocalSalt, "remote_key": &k.RemoteKey, "remote_salt": &k.RemoteSalt}
		for _, f := range fields[1:] {
			name, val, _ := strings.Cut(f, "=")
			if p, ok := dst[name]; ok {
				b, err := hex.DecodeString(val)
				if err != nil {
					return out, fmt.Errorf("%w: key log %s: %w", ErrMalformed, name, err)
				}
				*p = b
			}
		}
		if len(k.LocalKey) == 0 || len(k.LocalSalt) == 0 || len(k.RemoteKey) == 0 || len(k.RemoteSalt) == 0 {
			return out, fmt.Errorf("%w: key log line %q", ErrMalformed, sc.Text())
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// Needles returns the byte strings a capture must not contain for these
// keys: each key and salt raw, in hex (both cases) and in base64.
func (k SRTPKeys) Needles(label string) map[string][]byte {
	out := map[string][]byte{}
	for name, v := range map[string][]byte{"local key": k.LocalKey, "local salt": k.LocalSalt, "remote key": k.RemoteKey, "remote salt": k.RemoteSalt} {
		for form, enc := range SecretForms(v) {
			out[fmt.Sprintf("%s %s (%s)", label, name, form)] = enc
		}
	}
	return out
}

// SecretForms are the encodings a secret might leak in: raw, hex, HEX,
// base64 and unpadded base64url.
func SecretForms(b []byte) map[string][]byte {
	return map[string][]byte{
		"raw":       b,
		"hex":       []byte(hex.EncodeToString(b)),
		"HEX":       []byte(strings.ToUpper(hex.EncodeToString(b))),
		"base64":    []byte(base64.StdEncoding.EncodeToString(b)),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString(b)),
	}
}

// FindNeedles returns the names of the needles found in b.
func FindNeedles(b []byte, needles map[string][]byte) []string {
	var found []string
	for name, n := range needles {
		if len(n) > 0 && bytes.Contains(b, n) {
			found = append(found, name)
		}
	}
	return found
}
