package users

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
)

// KeyFile is the name of the signing key's file in the data directory.
const KeyFile = "users-signing.key"

// ErrKey is wrapped by the errors of LoadOrCreateKey.
var ErrKey = errors.New("users: signing key")

// LoadOrCreateKey returns the Ed25519 signing key stored in dir/KeyFile as a
// PEM "PRIVATE KEY" block (PKCS #8), creating it with mode 0600 if the file
// does not exist and setting an existing one to exactly 0600 if it has any
// other mode (private.Tighten, logged to slog.Default()). Creation is atomic and race-free between
// processes: the key is written and synced to a temporary file, which is then
// hard-linked to the final name, an operation that fails if the name exists. Two replicas
// starting together therefore end up with the same key: the loser of the race
// discards its own and reads the winner's. dir must exist.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	// A key file left readable by others (an older build, a copy) is made
	// private before use; the change is logged.
	if err := private.Tighten(path, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if key, err := readKey(path); !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %w", ErrKey, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrKey, err)
	}
	tmp, err := os.CreateTemp(dir, KeyFile+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: write: %w", ErrKey, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: sync: %w", ErrKey, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	// Whether this process won or lost, the file now holds the key
	// everybody uses.
	return readKey(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s holds no PEM PRIVATE KEY block", ErrKey, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, want an Ed25519 key", ErrKey, path, k)
	}
	return priv, nil
}
