package bootstrap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

// maxKeyFile bounds what is read from a key or secret file.
const maxKeyFile = 4096

// ensureDataDir creates dir (mode 0700) if it is missing.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// loadOrCreateKey reads the host key from path, or generates an Ed25519 key
// and writes it there (mode 0600, libp2p protobuf encoding) if the file does
// not exist.
func loadOrCreateKey(path string) (lcrypto.PrivKey, error) {
	data, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate host key: %w", err)
		}
		b, err := lcrypto.MarshalPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode host key: %w", err)
		}
		if err := writeNewPrivateFile(path, b); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k, err := lcrypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", filepath.Base(path), err)
	}
	return k, nil
}

// loadOrCreateSecret reads a TURN secret from path, or generates one (32
// random bytes written as 64 hex characters, usable as coturn's
// static-auth-secret) if the file does not exist.
func loadOrCreateSecret(path string) ([]byte, error) {
	data, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("generate TURN secret: %w", err)
		}
		secret := []byte(hex.EncodeToString(raw))
		if err := writeNewPrivateFile(path, append(bytes.Clone(secret), '\n')); err != nil {
			return nil, err
		}
		return secret, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(data), nil
}

// readSecretFile reads a secret from a file given by the operator.
func readSecretFile(path string) ([]byte, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(data), nil
}

// readPrivateFile reads a small file that must not be readable by group or
// others.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read %s: %w: mode %v (want 0600)", path, ErrInsecureKeyFile, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("read %s: %w: larger than %d bytes", filepath.Base(path), ErrConfig, maxKeyFile)
	}
	return data, nil
}

// writeNewPrivateFile creates path with mode 0600; it fails if path exists,
// so a concurrent first start cannot overwrite a key in use.
func writeNewPrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
