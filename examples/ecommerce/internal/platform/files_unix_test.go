//go:build unix

package platform_test

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

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
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

func TestOpenDBFilesArePrivate(t *testing.T) {
	permissiveUmask(t)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "x.db")
	db, err := platform.OpenDB(context.Background(), path, testMigrations...)
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

func TestOpenDBTightensExistingFiles(t *testing.T) {
	permissiveUmask(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := platform.OpenDB(context.Background(), path, testMigrations...)
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

	db, err = platform.OpenDB(context.Background(), path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %v after OpenDB, want 0700", got)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %v after OpenDB, want 0600", filepath.Base(p), got)
		}
	}
	for _, want := range []string{"path=" + dir + " was=-rwxr-xr-x now=-rwx------", "path=" + path + " was=-rw-r--r-- now=-rw-------"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, &logs)
		}
	}
}

func TestTightenTree(t *testing.T) {
	permissiveUmask(t)
	root := t.TempDir()
	sub := filepath.Join(root, "logs")
	file := filepath.Join(sub, "users-1.log")
	private := filepath.Join(root, "key")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	for _, d := range []string{sub} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, m := range map[string]fs.FileMode{file: 0o644, private: 0o600, outside: 0o644} {
		if err := os.WriteFile(p, nil, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := platform.TightenTree(root, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{root: 0o700, sub: 0o700, file: 0o600, private: 0o600, outside: 0o644} {
		if got := mode(t, p); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	if n := strings.Count(logs.String(), "removed group and other permissions"); n != 3 {
		t.Errorf("%d changes logged, want 3 (root, logs, the log file):\n%s", n, &logs)
	}
	if err := platform.TightenTree(filepath.Join(root, "missing"), nil); err != nil {
		t.Errorf("TightenTree of a missing directory = %v, want nil", err)
	}
}

func TestOpenPrivate(t *testing.T) {
	permissiveUmask(t)
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.log")
	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fresh, old} {
		f, err := platform.OpenPrivate(p, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("after\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), got)
		}
	}
	if b, _ := os.ReadFile(old); string(b) != "before\nafter\n" {
		t.Errorf("OpenPrivate did not append: %q", b)
	}
}
