package users_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := users.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, users.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(filepath.Join(dir, users.KeyFile))
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("key file is not PEM PKCS#8:\n%s", data)
	}
	k2, err := users.LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v, same key %v", err, k1.Equal(k2))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key (temporary files removed)", len(entries))
	}
}

// Replicas starting together agree on one key.
func TestLoadOrCreateKeyRace(t *testing.T) {
	for round := range 10 {
		dir := t.TempDir()
		keys := make([]ed25519.PrivateKey, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				var err error
				if keys[i], err = users.LoadOrCreateKey(dir); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range keys {
			if !keys[i].Equal(keys[0]) {
				t.Fatalf("round %d: replica %d has another key", round, i)
			}
		}
	}
}

func TestLoadKeyCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"not PEM":   "hello",
		"wrong PEM": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad DER":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, users.KeyFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := users.LoadOrCreateKey(dir); !errors.Is(err, users.ErrKey) {
			t.Errorf("%s: err = %v, want ErrKey", name, err)
		}
	}
}
