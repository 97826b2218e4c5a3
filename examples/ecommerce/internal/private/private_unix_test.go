//go:build unix

package private_test

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
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

// TightenTree sets exactly 0700 on directories and 0600 on regular files,
// owner bits included, logs each change and leaves links and what they
// point to alone.
func TestTightenTree(t *testing.T) {
	permissiveUmask(t)
	root := t.TempDir()
	sub := filepath.Join(root, "logs")
	closed := filepath.Join(root, "closed")
	file := filepath.Join(sub, "users-1.log")
	keyFile := filepath.Join(root, "key")
	readOnly := filepath.Join(root, "admin-password")
	executable := filepath.Join(root, "tool")
	setuid := filepath.Join(root, "setuid")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	for _, d := range []string{sub, closed} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]fs.FileMode{file: 0o644, keyFile: 0o600, readOnly: 0o400, executable: 0o700, setuid: 0o600 | fs.ModeSetuid, outside: 0o644}
	for p, m := range files {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	for d, m := range map[string]fs.FileMode{root: 0o775, closed: 0o500} {
		if err := os.Chmod(d, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := private.TightenTree(root, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{root: 0o700, sub: 0o700, closed: 0o700, file: 0o600, keyFile: 0o600,
		readOnly: 0o600, executable: 0o600, setuid: 0o600, outside: 0o644}
	for p, want := range want {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() & (fs.ModePerm | fs.ModeSetuid); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	for _, line := range []string{
		"path=" + root + " was=-rwxrwxr-x now=-rwx------",
		"path=" + closed + " was=-r-x------ now=-rwx------",
		"path=" + readOnly + " was=-r-------- now=-rw-------",
		"path=" + executable + " was=-rwx------ now=-rw-------",
		"path=" + setuid + " was=urw------- now=-rw-------",
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, &logs)
		}
	}
	if n := strings.Count(logs.String(), "set the private mode"); n != 7 {
		t.Errorf("%d changes logged, want 7 (root, logs, closed, the log file, admin-password, tool, setuid):\n%s", n, &logs)
	}
	logs.Reset()
	if err := private.TightenTree(root, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("a second TightenTree changed something:\n%s", &logs)
	}
	if err := private.TightenTree(filepath.Join(root, "missing"), nil); err != nil {
		t.Errorf("TightenTree of a missing directory = %v, want nil", err)
	}
}

// OpenAppend creates a log file 0600 and sets an existing one to exactly
// 0600 through the open file, appending to it and logging the change.
func TestOpenAppend(t *testing.T) {
	permissiveUmask(t)
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.log")
	old := filepath.Join(dir, "old.log")
	readOnly := filepath.Join(dir, "read-only.log")
	for p, m := range map[string]fs.FileMode{old: 0o644, readOnly: 0o444} {
		if err := os.WriteFile(p, []byte("before\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	for _, p := range []string{fresh, old, readOnly} {
		f, err := private.OpenAppend(p, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("after\n"); err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: the open file's mode %v, want 0600", filepath.Base(p), got)
		}
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), got)
		}
	}
	for _, p := range []string{old, readOnly} {
		if b, _ := os.ReadFile(p); string(b) != "before\nafter\n" {
			t.Errorf("OpenAppend did not append to %s: %q", filepath.Base(p), b)
		}
	}
	for _, line := range []string{
		"path=" + old + " was=-rw-r--r-- now=-rw-------",
		"path=" + readOnly + " was=-r--r--r-- now=-rw-------",
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, &logs)
		}
	}
	if n := strings.Count(logs.String(), "set the private mode"); n != 2 {
		t.Errorf("%d changes logged, want 2:\n%s", n, &logs)
	}
}
