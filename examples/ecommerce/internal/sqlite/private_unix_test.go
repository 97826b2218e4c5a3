//go:build unix

package sqlite_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

// permissiveUmask sets the process's umask to 0 for the test, so that any
// mode the code leaves to the umask shows up as world-readable. The umask
// is process-wide: tests that call this must not run in parallel.
func permissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestOpenFilesArePrivate(t *testing.T) {
	permissiveUmask(t)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "x.db")
	db, err := sqlite.Open(context.Background(), path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("data directory mode %v, want 0700", got)
	}
	// The WAL and shared-memory files exist while the database is open.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestOpenTightensExistingFiles(t *testing.T) {
	permissiveUmask(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := sqlite.Open(context.Background(), path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{dir, path} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))

	db, err = sqlite.Open(context.Background(), path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %v after Open, want 0700", got)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %v after Open, want 0600", filepath.Base(p), got)
		}
	}
	for _, want := range []string{"path=" + dir + " was=-rwxr-xr-x now=-rwx------", "path=" + path + " was=-rw-r--r-- now=-rw-------"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, &logs)
		}
	}
}
